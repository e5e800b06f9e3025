"""``tuibao model promote`` / ``rollback`` / ``status``: the model the running Rasa server uses.

Promotion goes through Rasa's own HTTP API (``PUT /model``, token-protected): the server loads
the new archive beside the running one and swaps its agent in one assignment once it is ready,
so requests during the load are answered by the old model and none fails. Every promoted
archive is first copied to ``models/releases/`` (retraining overwrites models/tuibao.tar.gz),
and ``models/releases/deployments.json`` remembers, per server, the running and the previous
release: ``rollback`` loads the previous one the same way.
"""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Optional

import requests

STATE_FILE = "deployments.json"


class DeployError(RuntimeError):
    """The server could not be reached or refused the model; the message says which."""


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


def releases_dir(root: Path) -> Path:
    return root / "models" / "releases"


def _state(root: Path) -> Dict[str, Any]:
    path = releases_dir(root) / STATE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _save_state(root: Path, state: Dict[str, Any]) -> None:
    path = releases_dir(root) / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def _snapshot(root: Path, model: Path) -> Path:
    """A copy of ``model`` under models/releases/ that no later training overwrites."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    release = releases_dir(root) / f"{stamp}-{model.name}"
    release.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(model, release)
    for sidecar in (model.with_name(model.name.replace(".tar.gz", ".fingerprint")),):
        if sidecar.is_file():
            shutil.copy2(sidecar, release.with_name(release.name.replace(".tar.gz", ".fingerprint")))
    return release


def _running_release(root: Path, server: RasaServer, entry: Dict[str, Any]) -> Optional[Path]:
    """The archive the server runs now: the recorded release, or the file of that name in
    models/ (the server was started with it), snapshotted so a rollback can return to it."""
    running = Path(server.status().get("model_file") or "").name
    current = entry.get("current")
    if current and Path(current).name == running and Path(current).is_file():
        return Path(current)
    for candidate in (root / "models" / running, root / running):
        if running and candidate.is_file():
            return _snapshot(root, candidate)
    return None


def promote(root: Path, server: RasaServer, model: Path) -> str:
    """Load ``model`` into the running server, keeping the running one as the previous."""
    if not model.is_file() or not model.name.endswith(".tar.gz"):
        raise DeployError(f"{model} is not a model archive (.tar.gz)")
    state = _state(root)
    entry = state.get(server.url, {})
    previous = _running_release(root, server, entry)
    release = _snapshot(root, model)
    server.load(release.resolve())
    now_running = Path(server.status().get("model_file") or "").name
    if now_running != release.name:
        raise DeployError(f"{server.url} still runs {now_running} after loading {release.name}")
    history = entry.get("history", []) + [{"release": str(release), "at": _now(), "action": "promote"}]
    state[server.url] = {"current": str(release), "previous": str(previous) if previous else None,
                         "history": history[-20:]}
    _save_state(root, state)
    note = f"previous: {previous.name}" if previous else "no previous model known: rollback unavailable"
    return f"{server.url} now runs {release.name} ({note})"


def rollback(root: Path, server: RasaServer) -> str:
    """Load the previous release again (and make the current one the previous)."""
    entry = _state(root).get(server.url)
    if not entry or not entry.get("previous"):
        raise DeployError(f"nothing to roll back to for {server.url}: no model was promoted there "
                          "with a previous one recorded")
    previous = Path(entry["previous"])
    if not previous.is_file():
        raise DeployError(f"the previous release {previous} is gone")
    server.load(previous.resolve())
    now_running = Path(server.status().get("model_file") or "").name
    if now_running != previous.name:
        raise DeployError(f"{server.url} still runs {now_running} after loading {previous.name}")
    state = _state(root)
    history = entry.get("history", []) + [{"release": str(previous), "at": _now(), "action": "rollback"}]
    state[server.url] = {"current": str(previous), "previous": entry.get("current"),
                         "history": history[-20:]}
    _save_state(root, state)
    return f"{server.url} rolled back to {previous.name}"


def status(root: Path, server: RasaServer) -> str:
    entry = _state(root).get(server.url, {})
    running = server.status().get("model_file")
    return (f"{server.url} runs {running}; recorded current {entry.get('current')}, "
            f"previous {entry.get('previous')}")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
