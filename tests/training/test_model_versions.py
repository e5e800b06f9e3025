"""Model versions as artefacts: every training writes a new archive and never overwrites one;
promote and rollback move the pointers models/current.tar.gz and models/previous.tar.gz, and
rollback restores what ran before, whatever the order of train, promote and rollback.

The Rasa server here is a stand-in that speaks the two calls deployment uses (GET /status,
PUT /model) and refuses a file that does not exist; the real server's swap is measured by
bench/model_swap.py and exercised by test_workflow.py."""
from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot import model as bot_model
from tests.training.conftest import tuibao
from training import deploy

TOKEN = "test-token"


class FakeRasa:
    """GET /status names the loaded archive; PUT /model loads a file that exists."""

    def __init__(self, started_from: str, workers: int = 1) -> None:
        self.model_file = started_from
        self.loads = []
        self.workers = [started_from] * workers  # Sanic workers: PUT reaches one, GET any
        self.asked = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _authorised(self) -> bool:
                if f"token={TOKEN}" not in self.path:
                    self.send_response(401)
                    self.end_headers()
                    return False
                return True

            def do_GET(self):
                if self._authorised():
                    outer.asked += 1
                    answer = outer.workers[outer.asked % len(outer.workers)] if len(outer.workers) > 1 \
                        else outer.model_file
                    body = json.dumps({"model_file": answer}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(body)

            def do_PUT(self):
                if not self._authorised():
                    return
                asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["model_file"]
                if not Path(asked).is_file():
                    self.send_response(400)
                    self.end_headers()
                    return
                outer.model_file = Path(asked).name
                outer.workers[0] = Path(asked).name
                outer.loads.append(Path(asked).name)
                self.send_response(204)
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def _train(models: Path, n: int) -> Path:
    """What a training leaves behind (the archive is a stand-in: the pointers are the point)."""
    fp = f"{n:02d}" + "f" * 62
    name = bot_model.version_name(fp)
    (models / f"{name}.tar.gz").write_bytes(f"model {n}".encode())
    archive = bot_model.record_version(models, name, fp)
    deploy.write_verdict(archive, True, [], "stand-in")
    return archive.resolve()


@pytest.fixture
def setup(tmp_path):
    root = tmp_path / "project"
    models = root / "models"
    models.mkdir(parents=True)
    (root / "config.yml").write_text("{}\n")  # what makes a folder a project for tuibao
    (root / "domain.yml").write_text("{}\n")
    first = _train(models, 0)  # the first model: current.tar.gz points to it
    server = FakeRasa("current.tar.gz")  # started as the Procfile does
    yield root, models, first, server
    server.close()


def _running(root: Path, server: FakeRasa) -> Path:
    name = server.model_file
    return (root / "models" / name).resolve()


def test_training_writes_a_new_version_and_moves_only_the_newest_pointer(setup):
    root, models, first, server = setup
    second = _train(models, 1)
    assert first.is_file() and second.is_file() and first != second
    assert first.read_bytes() == b"model 0"  # never overwritten
    assert (models / "tuibao.tar.gz").resolve() == second
    assert (models / "current.tar.gz").resolve() == first  # what the server runs: untouched
    assert (models / "tuibao.fingerprint").read_text().startswith("01")


def test_an_old_plain_archive_is_kept_as_a_version(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "tuibao.tar.gz").write_bytes(b"before versioning")
    (models / "tuibao.fingerprint").write_text("ab" * 32 + "\n")
    bot_model.deploy_offline(models)
    current = (models / "current.tar.gz").resolve()
    assert current.read_bytes() == b"before versioning" and current.name.endswith("-abababab.tar.gz")
    assert (models / "tuibao.tar.gz").is_symlink()


def test_the_issue_order_train_promote_rollback_through_the_command_line(setup):
    root, models, first, server = setup
    second = _train(models, 1)
    args = ["--url", server.url, "--token", TOKEN]
    promote = tuibao(root, "model", "promote", *args)
    assert promote.returncode == 0, promote.stdout + promote.stderr
    assert server.model_file == second.name
    assert f"models/previous.tar.gz -> {first.name}" in promote.stdout
    status = tuibao(root, "model", "status", *args)
    assert f"runs {second.name}" in status.stdout and f"previous.tar.gz -> {first.name}" in status.stdout
    rollback = tuibao(root, "model", "rollback", *args)
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert server.model_file == first.name  # what ran before the promote
    assert (models / "current.tar.gz").resolve() == first
    assert (models / "previous.tar.gz").resolve() == second


def test_a_model_that_failed_the_gate_or_was_never_gated_is_not_loaded(setup):
    root, models, first, server = setup
    bad = _train(models, 1)
    deploy.write_verdict(bad, False, ["core guard: '退钱' ... request_surrender"], "failed")
    args = ["--url", server.url, "--token", TOKEN]
    refused = tuibao(root, "model", "promote", *args)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "failed the gate" in refused.stderr and "request_surrender" in refused.stderr
    ungated = _train(models, 2)
    deploy.verdict_path(ungated).unlink()
    refused = tuibao(root, "model", "promote", *args)
    assert refused.returncode == 1 and "no gate verdict" in refused.stderr
    assert server.loads == [] and server.model_file == "current.tar.gz"
    assert (models / "current.tar.gz").resolve() == first
    forced = tuibao(root, "model", "promote", "--skip-gate", *args)
    assert forced.returncode == 0 and server.model_file == ungated.name


def test_a_server_whose_workers_did_not_all_swap_is_reported_and_the_pointers_stay(setup):
    root, models, first, _ = setup
    server = FakeRasa("current.tar.gz", workers=2)
    try:
        second = _train(models, 1)
        with pytest.raises(deploy.DeployError, match="several workers and PUT /model reached only one"):
            deploy.promote(root, [deploy.RasaServer(server.url, TOKEN, timeout=10)], second)
        assert (models / "current.tar.gz").resolve() == first
    finally:
        server.close()


STEPS = ("train", "promote", "rollback")


@pytest.mark.parametrize("order", [o for n in (1, 2, 3, 4) for o in itertools.product(STEPS, repeat=n)],
                         ids="-".join)
def test_rollback_restores_what_ran_before_in_every_order(setup, order):
    root, models, first, server = setup
    servers = [deploy.RasaServer(server.url, TOKEN, timeout=10)]
    running, before = first, None  # what the server runs, what ran before it
    trained = 1
    for step in order:
        if step == "train":
            _train(models, trained)
            trained += 1
        elif step == "promote":
            latest = (models / "tuibao.tar.gz").resolve()
            deploy.promote(root, servers, models / "tuibao.tar.gz")
            if latest != running:
                running, before = latest, running
        else:
            if before is None:
                with pytest.raises(deploy.DeployError, match="nothing to roll back to"):
                    deploy.rollback(root, servers)
            else:
                deploy.rollback(root, servers)
                running, before = before, running
        assert _running(root, server) == running, (order, step)
        assert (models / "current.tar.gz").resolve() == running
        if before is not None:
            assert (models / "previous.tar.gz").resolve() == before
    # every archive ever written is still there, unchanged
    for n, archive in enumerate(sorted(p for p in models.glob("2*.tar.gz"))):
        assert archive.read_bytes() == f"model {n}".encode()


@pytest.mark.parametrize("keep_cache", [False, True])
def test_training_runs_without_rasa_s_cache_unless_asked(monkeypatch, keep_cache):
    """A retrain over .rasa/cache gave another model than a fresh training of the same tree
    (6 December): `make train` trains with the cache off, so the model depends on the tree only."""
    seen = {}
    monkeypatch.setattr(bot_model.subprocess, "call",
                        lambda cmd, cwd, env: seen.update(env=env, cmd=cmd) or 1)  # "failed": nothing recorded
    monkeypatch.delenv("RASA_MAX_CACHE_SIZE", raising=False)
    if keep_cache:
        monkeypatch.setenv("TUIBAO_TRAIN_CACHE", "1")
    else:
        monkeypatch.delenv("TUIBAO_TRAIN_CACHE", raising=False)
    assert bot_model.train(force=True) == 1
    assert "train" in seen["cmd"]
    assert seen["env"].get("RASA_MAX_CACHE_SIZE") == (None if keep_cache else "0")
