"""Start the project's real processes for a test session and stop them afterwards.

Tests talk to services over real HTTP; this module only launches them, waits until they
answer, and cleans up (also on failure), so every test file starts services the same way.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import requests

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def free_port() -> int:
    """A TCP port nobody listens on right now (tests never take the demo's fixed ports)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: Optional[subprocess.Popen] = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException as exc:  # not up yet
            last = exc
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout}s ({last})")


@contextlib.contextmanager
def service(
    args: List[str],
    health_url: str,
    env: Optional[Dict[str, str]] = None,
    timeout: float = 60,
    log_name: str = "service",
) -> Iterator[subprocess.Popen]:
    """Run ``args`` (from the repository root) until the block ends; its output goes to
    ``.test-logs/<log_name>.log`` so a failing test can be diagnosed."""
    log_dir = ROOT / ".test-logs"
    log_dir.mkdir(exist_ok=True)
    log = open(log_dir / f"{log_name}.log", "ab")
    # The product's processes log at INFO, as the demo runs them, whatever an in-process
    # library left in this session's LOG_LEVEL (Rasa writes it there): tests read those lines.
    full_env = {**os.environ, "LOG_LEVEL": "INFO", **(env or {}), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_http(health_url, timeout, proc)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()
