"""bot.serve's supervisor (bot/handover.py), with a stand-in for Rasa (stand_in_rasa.py): a
promote starts a new process that takes over the same address, the old one stops; a model that
cannot be served leaves the running one answering; the children never outlive the supervisor,
and a crash of the server is the supervisor's own exit code (what a process manager sees).
The real thing, under traffic, with two Sanic workers:
tests/lock_store/test_two_workers_e2e.py."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
STAND_IN = [sys.executable, str(Path(__file__).with_name("stand_in_rasa.py"))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) is gone for every purpose here
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _eventually(check, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.fixture
def supervised(tmp_path):
    port = _free_port()
    script = ("import sys; from bot.handover import Supervisor; "
              f"sys.exit(Supervisor(sys.argv[1:], command={STAND_IN!r}).run())")
    proc = subprocess.Popen([sys.executable, "-c", script, "run", "--interface", "127.0.0.1",
                             "--port", str(port), "--model", "models/a.tar.gz"],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"

    def status() -> Dict:
        return requests.get(f"{url}/status", timeout=5).json()

    def up() -> bool:
        try:
            return bool(status())
        except requests.RequestException:
            return False

    assert _eventually(up), proc.stderr.read() if proc.poll() is not None else "not serving"
    yield proc, url, status
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def test_a_promote_hands_the_address_to_a_new_process_and_the_old_one_stops(supervised):
    proc, url, status = supervised
    first = status()
    assert first["model_file"] == "models/a.tar.gz"
    put = requests.put(f"{url}/model", json={"model_file": "models/b.tar.gz"}, timeout=30)
    assert put.status_code == 204
    assert _eventually(lambda: status()["model_file"].endswith("models/b.tar.gz"))
    second = status()
    assert second["pid"] != first["pid"]
    assert _eventually(lambda: not _alive(first["pid"]))  # the old one finished and left
    assert {status()["pid"] for _ in range(10)} == {second["pid"]}
    # and again: every promote is a new generation
    assert requests.put(f"{url}/model", json={"model_file": "models/c.tar.gz"},
                        timeout=30).status_code == 204
    assert _eventually(lambda: status()["model_file"].endswith("models/c.tar.gz"))
    assert proc.poll() is None


def test_a_model_that_cannot_be_served_is_refused_and_the_running_one_goes_on(supervised):
    proc, url, status = supervised
    before = status()
    put = requests.put(f"{url}/model", json={"model_file": "models/broken.tar.gz"}, timeout=30)
    assert put.status_code == 500
    assert "exited with code 3" in put.json()["message"]
    # the stand-in answered 500 and kept serving (Rasa does the same): nothing changed
    assert status() == before
    assert proc.poll() is None


def test_the_server_never_outlives_the_supervisor(supervised):
    proc, url, status = supervised
    child = status()["pid"]
    proc.kill()  # SIGKILL: no chance to forward anything (PR_SET_PDEATHSIG does it)
    proc.wait(10)
    assert _eventually(lambda: not _alive(child))
    with pytest.raises(requests.ConnectionError):
        status()


def test_sigterm_stops_the_server_and_the_supervisor_cleanly(supervised):
    proc, url, status = supervised
    child = status()["pid"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) in (0, 128 + signal.SIGTERM)
    assert not _alive(child)


def test_a_crash_of_the_server_is_the_supervisors_exit(supervised):
    proc, url, status = supervised
    os.kill(status()["pid"], signal.SIGKILL)
    assert proc.wait(30) == 128 + signal.SIGKILL
    assert "was killed by SIGKILL" in proc.stderr.read()
