"""``tuibao model promote`` / ``rollback`` / ``status``: the model the running Rasa server uses.

Every training writes a new archive, ``models/<UTC time>-<fingerprint[:8]>[-nlu].tar.gz``, and
never overwrites one. Two symlinks say what runs:

    models/current.tar.gz   the model the server runs (the Procfile starts Rasa from it)
    models/previous.tar.gz  the one that ran before it

``promote`` loads a model into every given server (``PUT /model``, one after the other), checks
``GET /status`` names it, then moves ``previous`` to what ran and ``current`` to the new model.
``rollback`` loads ``previous`` the same way and swaps the two pointers, so a second rollback
returns to where the first started. Training never moves either pointer (it moves
``models/tuibao.tar.gz``, the newest trained model), so rollback restores what ran before
whatever the order of train, promote and rollback. ``models/deployments.log`` keeps one line
per move. A model whose gate failed (``<model>.gate.json``, written by ``tuibao gate``) is
refused; one without a verdict needs ``--skip-gate``.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import requests

from bot.model import CURRENT, PREVIOUS, adopt, point

LOG = "deployments.log"
STATUS_CHECKS = 6
HANDOVER_SETTLE_S = 5.0


class DeployError(RuntimeError):
    """The server could not be reached or refused the model; the message says which."""


class GateRefused(DeployError):
    """The model failed the gate (or was never gated): not promoted."""


class RasaServer:
    """The few calls of Rasa's HTTP API that deployment needs (each with a timeout)."""

    def __init__(self, url: str, token: str, timeout: float = 300) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def status(self) -> Dict[str, Any]:
        try:
            answer = requests.get(f"{self.url}/status", params={"token": self.token}, timeout=10)
        except requests.RequestException as error:
            raise DeployError(f"Rasa server {self.url} not reachable ({type(error).__name__})")
        if answer.status_code == 401:
            raise DeployError(f"Rasa server {self.url} refused the API token (401)")
        if answer.status_code != 200:
            raise DeployError(f"Rasa server {self.url}: GET /status answered {answer.status_code}")
        return answer.json()

    def running(self) -> str:
        return Path(self.status().get("model_file") or "").name

    def load(self, model: Path) -> None:
        """``PUT /model``: returns once the server answers with the new model."""
        try:
            answer = requests.put(f"{self.url}/model", params={"token": self.token},
                                  json={"model_file": str(model)}, timeout=self.timeout)
        except requests.RequestException as error:
            raise DeployError(f"loading {model.name} into {self.url} failed ({type(error).__name__})")
        if answer.status_code == 401:
            raise DeployError(f"Rasa server {self.url} refused the API token (401)")
        if answer.status_code != 204:
            raise DeployError(f"{self.url} refused {model.name}: {answer.status_code} {answer.text[:300]}")
        # Under bot.serve's supervisor the old process stops taking connections before it
        # answers 204, its other workers a moment later (a busy worker handles the signal after
        # its turn): give them a few seconds to have the new model answer every time.
        # Several Sanic workers without the supervisor (TUIBAO_HANDOVER=0) are separate
        # processes and PUT /model reaches one: any answer naming another model after that
        # means some workers did not swap.
        deadline = time.monotonic() + HANDOVER_SETTLE_S
        seen = {self.running() for _ in range(STATUS_CHECKS)}
        while seen != {model.name} and time.monotonic() < deadline:
            time.sleep(0.2)
            seen = {self.running() for _ in range(STATUS_CHECKS)}
        if seen != {model.name}:
            others = ", ".join(sorted(seen - {model.name})) or "nothing"
            raise DeployError(
                f"{self.url} answers with {others} after loading {model.name}"
                + (": it runs several workers and PUT /model reached only one; restart it on "
                   "the new model instead (models/current.tar.gz) or promote with one worker"
                   if model.name in seen else ""))


def models_dir(root: Path) -> Path:
    return root / "models"


def pointer(root: Path, name: str) -> Optional[Path]:
    """The versioned archive ``models/<name>`` points to, or None."""
    link = models_dir(root) / name
    return link.resolve() if link.exists() else None


def version_of(root: Path, model: Path) -> Path:
    """The versioned archive behind ``model`` (a pointer is followed). A plain archive outside
    the versions (an older tree's models/tuibao.tar.gz, a file elsewhere) is kept as one."""
    model = Path(model)
    if not model.name.endswith(".tar.gz") or not model.exists():
        raise DeployError(f"{model} is not a model archive (.tar.gz)")
    if model.is_symlink():
        return model.resolve()
    if model.resolve().parent != models_dir(root).resolve():
        import shutil

        copy = models_dir(root) / model.name
        models_dir(root).mkdir(parents=True, exist_ok=True)
        shutil.copy2(model, copy)
        sidecar = model.with_name(model.name.replace(".tar.gz", ".fingerprint"))
        if sidecar.is_file():
            shutil.copy2(sidecar, copy.with_name(sidecar.name))
        for verdict in (model.with_name(model.name.replace(".tar.gz", ".gate.json")),):
            if verdict.is_file():
                shutil.copy2(verdict, copy.with_name(verdict.name))
        model = copy
    if model.name in (CURRENT, PREVIOUS, "tuibao.tar.gz"):  # a pointer name: must stay a pointer
        model = adopt(model)
    return model.resolve()


def verdict_path(model: Path) -> Path:
    return model.with_name(model.name.replace(".tar.gz", ".gate.json"))


def write_verdict(model: Path, passed: bool, failures: Sequence[str], summary: str) -> Path:
    path = verdict_path(Path(model).resolve())
    path.write_text(json.dumps({"passed": passed, "failures": list(failures), "summary": summary,
                                "at": _now()}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def check_verdict(model: Path, skip_gate: bool) -> Optional[str]:
    """Refuses a model whose gate failed; one never gated needs ``skip_gate``."""
    path = verdict_path(model)
    if not path.is_file():
        if skip_gate:
            return f"note: {model.name} was never gated (--skip-gate)"
        raise GateRefused(f"{model.name} has no gate verdict: run `tuibao gate --model "
                          f"models/{model.name}` first (or promote with --skip-gate, on purpose)")
    verdict = json.loads(path.read_text(encoding="utf-8"))
    if not verdict.get("passed"):
        raise GateRefused(f"{model.name} failed the gate ({path.name}); nothing was loaded:\n  "
                          + "\n  ".join(verdict.get("failures") or []))
    return None


def _what_runs(root: Path, server: RasaServer) -> Optional[Path]:
    """The version a server runs: the current pointer when the server names it (or was started
    from models/current.tar.gz), else the archive of that name in models/."""
    running = server.running()
    current = pointer(root, CURRENT)
    if current is not None and running in (current.name, CURRENT):
        return current
    found = models_dir(root) / running
    if running and found.exists():
        return version_of(root, found)
    return current


def promote(root: Path, servers: Sequence[RasaServer], model: Path, skip_gate: bool = False) -> str:
    """Load ``model`` into each server in turn; then ``previous`` is what ran, ``current`` it."""
    target = version_of(root, model)
    lines: List[str] = []
    note = check_verdict(target, skip_gate)
    if note:
        lines.append(note)
    before = _what_runs(root, servers[0])
    if target.name.endswith("-nlu.tar.gz") and before is not None and \
            not before.name.endswith("-nlu.tar.gz"):
        raise DeployError(f"{target.name} is NLU-only (tuibao train --nlu-only): it cannot hold "
                          f"a conversation, and the server runs the full {before.name}. Train the "
                          "full model (tuibao train), gate it, and promote that")
    for server in servers:
        started = time.monotonic()
        server.load(target)
        lines.append(f"{server.url} now runs {target.name} (load {time.monotonic() - started:.1f} s)")
    if before is not None and before == target:
        lines.append(f"{target.name} was already current; pointers unchanged")
        return "\n".join(lines)
    if before is not None:
        point(models_dir(root) / PREVIOUS, before)
    point(models_dir(root) / CURRENT, target)
    log_deployment(root, "promote", target, before)
    lines.append(f"models/{CURRENT} -> {target.name}; models/{PREVIOUS} -> "
                 f"{before.name if before else 'none (nothing to roll back to)'}")
    return "\n".join(lines)


def rollback(root: Path, servers: Sequence[RasaServer]) -> str:
    """Load ``previous`` again into each server and swap the two pointers."""
    previous = pointer(root, PREVIOUS)
    if previous is None:
        raise DeployError(f"nothing to roll back to: models/{PREVIOUS} does not exist (no model "
                          "was promoted over another one yet)")
    current = pointer(root, CURRENT)
    for server in servers:
        server.load(previous)
    if current is not None:
        point(models_dir(root) / PREVIOUS, current)
    point(models_dir(root) / CURRENT, previous)
    log_deployment(root, "rollback", previous, current)
    return (f"{', '.join(s.url for s in servers)} rolled back to {previous.name}; "
            f"models/{PREVIOUS} -> {current.name if current else 'none'}")


def status(root: Path, server: RasaServer) -> str:
    current, previous = pointer(root, CURRENT), pointer(root, PREVIOUS)
    latest = pointer(root, "tuibao.tar.gz")
    return (f"{server.url} runs {server.running()}\n"
            f"models/{CURRENT}  -> {current.name if current else '-'}\n"
            f"models/{PREVIOUS} -> {previous.name if previous else '-'}\n"
            f"models/tuibao.tar.gz (newest trained) -> {latest.name if latest else '-'}")


def log_deployment(root: Path, action: str, now: Path, before: Optional[Path]) -> None:
    with (models_dir(root) / LOG).open("a", encoding="utf-8") as log:
        log.write(f"{_now()} {action} {now.name} (was {before.name if before else '-'})\n")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
