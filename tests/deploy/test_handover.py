"""bot.serve's supervisor (bot/handover.py), with a Sanic stand-in for Rasa served the way Rasa
is (stand_in_rasa.py), with one and with two workers: a promote starts a new process that takes
over the same address and the old one stops; clients that keep their connections open lose no
request over it; a model that cannot be served leaves the running one answering; the children
never outlive the supervisor, and a crash of the server is the supervisor's own exit code (what
a process manager sees). The real thing, under traffic, with two workers:
tests/lock_store/test_two_workers_e2e.py."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Set

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


def _eventually(check, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


class Supervised:
    def __init__(self, proc: subprocess.Popen, url: str, log: Path, workers: int) -> None:
        self.proc, self.url, self.log, self.workers = proc, url, log, workers

    def status(self) -> Dict:
        return requests.get(f"{self.url}/status", timeout=5).json()

    def pids(self, asks: int = 12) -> Set[int]:
        return {self.status()["pid"] for _ in range(asks)}

    def pids_within(self, wanted: int, seconds: float = 10.0) -> Set[int]:
        """The pids answering on the address, asked 8 at a time until ``wanted`` have answered:
        the kernel gives a sequence of connections to whichever worker accepts first, often
        the same one on a busy machine (a CI run saw 16 of 16 on one of two serving workers)."""
        seen: Set[int] = set()
        deadline = time.monotonic() + seconds
        with ThreadPoolExecutor(max_workers=8) as pool:
            while len(seen) < wanted and time.monotonic() < deadline:
                seen |= set(pool.map(lambda _: self.status()["pid"], range(8)))
        return seen

    def models(self, asks: int = 12) -> Set[str]:
        return {Path(self.status()["model_file"]).name for _ in range(asks)}

    def promote(self, model: str) -> requests.Response:
        return requests.put(f"{self.url}/model", json={"model_file": model}, timeout=60)


@pytest.fixture(params=[1, 2], ids=["one worker", "two workers"])
def supervised(request, tmp_path):
    port = _free_port()
    script = ("import sys; from bot.handover import Supervisor; "
              f"sys.exit(Supervisor(sys.argv[1:], command={STAND_IN!r}).run())")
    log = tmp_path / "supervisor.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", script, "run", "--interface", "127.0.0.1",
                                 "--port", str(port), "--model", "models/a.tar.gz"],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT),
                                     "SANIC_WORKERS": str(request.param)})
    running = Supervised(proc, f"http://127.0.0.1:{port}", log, request.param)

    def up() -> bool:
        try:
            return len(running.pids(4 * request.param)) == request.param
        except requests.RequestException:
            return False

    assert _eventually(up), log.read_text()
    yield running
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def test_a_promote_hands_the_address_to_a_new_process_and_the_old_one_stops(supervised):
    before = supervised.pids(24)
    assert supervised.promote("models/b.tar.gz").status_code == 204
    # every worker of the old process stopped taking connections before the answer, and every
    # worker answers with the new model (Rasa's own PUT /model reaches one): no grace needed
    assert supervised.models(24) == {"b.tar.gz"}
    assert not supervised.pids(24) & before
    now = supervised.pids_within(supervised.workers)  # all of them up
    assert len(now) == supervised.workers and not now & before
    assert _eventually(lambda: not any(_alive(pid) for pid in before))  # finished and left
    # and again: every promote is a new generation
    assert supervised.promote("models/c.tar.gz").status_code == 204
    assert supervised.models(24) == {"c.tar.gz"}
    assert supervised.proc.poll() is None


def test_clients_that_keep_their_connection_lose_no_request_over_a_promote(supervised):
    """WeChat's servers and our load generator keep connections open: the old process stops
    taking connections, ends keep-alive on each answer and finishes the request in hand before
    it goes. Nothing fails, and within a moment every client is answered by the new model."""
    failures: List[str] = []
    answers: Dict[int, List] = {}  # client -> [(sent at, model)]
    stop = threading.Event()

    def client(number: int, path: str) -> None:
        answers[number] = []
        with requests.Session() as session:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    answer = session.get(f"{supervised.url}{path}", timeout=10)
                    answer.raise_for_status()
                    answers[number].append((sent, Path(answer.json()["model_file"]).name))
                except requests.RequestException as error:
                    failures.append(repr(error))

    clients = [threading.Thread(target=client, args=(n, path))
               for n, path in enumerate(("/status", "/status", "/slow", "/slow"))]
    [c.start() for c in clients]
    try:
        time.sleep(0.5)
        assert supervised.promote("models/b.tar.gz").status_code == 204
        promoted = time.monotonic()
        time.sleep(4)
    finally:
        stop.set()
        [c.join(20) for c in clients]
    assert not failures, failures[:3]
    for number, seen in answers.items():
        assert any(model == "a.tar.gz" for _, model in seen), (number, seen[:3])
        late = [model for sent, model in seen if sent > promoted + 2]
        assert late and set(late) == {"b.tar.gz"}, (number, late)


def test_a_model_that_cannot_be_served_is_refused_and_the_running_one_goes_on(supervised):
    before = supervised.pids(24)
    put = supervised.promote("models/broken.tar.gz")
    assert put.status_code == 500
    assert "exited with code 3" in put.json()["message"]
    assert supervised.pids(24) == before and supervised.models() == {"a.tar.gz"}
    assert supervised.proc.poll() is None


def test_the_server_never_outlives_the_supervisor(supervised):
    served_by = supervised.pids(24)
    supervised.proc.kill()  # SIGKILL: no chance to forward anything (PR_SET_PDEATHSIG does it)
    supervised.proc.wait(10)
    assert _eventually(lambda: not any(_alive(pid) for pid in served_by))
    with pytest.raises(requests.ConnectionError):
        supervised.status()


def test_sigterm_stops_the_server_and_the_supervisor_cleanly(supervised):
    served_by = supervised.pids(24)
    supervised.proc.send_signal(signal.SIGTERM)
    assert supervised.proc.wait(30) == 0
    assert not any(_alive(pid) for pid in served_by)


def test_a_crash_of_the_server_is_the_supervisors_exit(supervised):
    child = int((Path(f"/proc/{supervised.proc.pid}/task/{supervised.proc.pid}/children")
                 .read_text().split()[0]))
    os.kill(child, signal.SIGKILL)
    assert supervised.proc.wait(30) == 128 + signal.SIGKILL
    assert "was killed by SIGKILL" in supervised.log.read_text()
