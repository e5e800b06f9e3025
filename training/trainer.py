"""``tuibao train``: an estimate before a training starts, progress while it runs, and a new
versioned archive when it ends (``models/<UTC time>-<fingerprint[:8]>[-nlu].tar.gz``).

Rasa's own output (a progress bar per epoch, dozens of log lines) is read as it comes and
summed up as one line per component and one per tenth of its epochs; the whole output is kept
in ``models/last-training.log`` and its tail printed when the training fails. Each training's
wall time is stored in ``models/timings.json`` per kind (full, nlu, nlu-finetune) with the
number of examples, which is what the next estimate is made from.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence

# Before anything was measured on this machine: the figures of docs/insurers.md (idle machine).
FIRST_GUESS = {"full": 130, "nlu": 90, "nlu-finetune": 40}
_COMPONENT = re.compile(r"Starting to train component '([^']+)'")
_EPOCHS = re.compile(r"Epochs:\s*\d+%\|[^|]*\|\s*(\d+)/(\d+)")
_DONE = re.compile(r"Your Rasa model is trained and saved at '([^']+)'")
_FINETUNE_IMPOSSIBLE = re.compile(r"(?i)cannot finetune|can't finetune|not possible to finetune|"
                                  r"finetun\w+ is not possible|new (labels|intents)|InvalidConfigException")


def count_examples(root: Path) -> int:
    """Training examples of the core and every extension (what the time grows with)."""
    total = 0
    for folder in [root / "nlu", *sorted((root / "extensions").glob("*/data/nlu"))]:
        for path in folder.rglob("*.yml") if folder.is_dir() else []:
            total += sum(1 for line in path.read_text(encoding="utf-8").splitlines()
                         if re.match(r"^\s{4,}- ", line))
    return total


def _timings_path(models: Path) -> Path:
    return models / "timings.json"


def estimate(models: Path, kind: str, examples: int) -> str:
    """One line: the expected wall time and what it is based on."""
    try:
        past = json.loads(_timings_path(models).read_text(encoding="utf-8")).get(kind) or []
    except (OSError, ValueError):
        past = []
    if past:
        last = past[-1]
        seconds = last["seconds"] * max(examples, 1) / max(last["examples"], 1)
        basis = (f"the last {kind} training here took {last['seconds']:.0f} s for "
                 f"{last['examples']} examples; now {examples}")
    else:
        seconds = FIRST_GUESS[kind] * max(examples, 1) / 2500
        basis = f"no {kind} training measured here yet; {examples} examples, idle 2-core figures"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    cores = os.cpu_count() or 1
    if load > cores:
        seconds *= load / cores
        basis += f"; load {load:.1f} on {cores} cores"
    return f"estimate: about {_human(seconds)} ({basis})"


def record(models: Path, kind: str, examples: int, seconds: float) -> None:
    path = _timings_path(models)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    data.setdefault(kind, []).append({"seconds": round(seconds, 1), "examples": examples,
                                      "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    data[kind] = data[kind][-10:]
    models.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _human(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class Progress:
    """Turns Rasa's output into a few lines of progress."""

    def __init__(self, started: float, say: Callable[[str], None]) -> None:
        self.started = started
        self.say = say
        self.component: Optional[str] = None
        self.last_tenth = -1
        self.tail: List[str] = []
        self.finetune_refused = False

    def feed(self, line: str) -> None:
        self.tail = (self.tail + [line])[-60:]
        if _FINETUNE_IMPOSSIBLE.search(line):
            self.finetune_refused = True
        elapsed = f"[{_human(time.monotonic() - self.started):>10}]"
        match = _COMPONENT.search(line)
        if match:
            self.component, self.last_tenth = match.group(1), -1
            self.say(f"{elapsed} training {self.component}")
            return
        match = _EPOCHS.search(line)
        if match and self.component:
            done, total = int(match.group(1)), int(match.group(2))
            tenth = done * 10 // max(total, 1)
            if tenth > self.last_tenth and done > 0:
                self.last_tenth = tenth
                self.say(f"{elapsed} {self.component}: epoch {done}/{total}")


def run(cmd: Sequence[str], cwd: Path, env: dict, log: Path,
        say: Callable[[str], None] = lambda text: print(text, flush=True)) -> "tuple[int, Progress]":
    """Run a training command, showing progress; the whole output goes to ``log``."""
    started = time.monotonic()
    progress = Progress(started, say)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        buffer = b""
        assert proc.stdout is not None
        while True:
            chunk = proc.stdout.read1(4096) if hasattr(proc.stdout, "read1") else proc.stdout.read(4096)
            if not chunk:
                break
            buffer += chunk
            parts = re.split(rb"[\r\n]", buffer)
            buffer = parts.pop()
            for raw in parts:
                line = raw.decode("utf-8", "replace")
                if line.strip():
                    out.write(line + "\n")
                    progress.feed(line)
        if buffer.strip():
            line = buffer.decode("utf-8", "replace")
            out.write(line + "\n")
            progress.feed(line)
        code = proc.wait()
    return code, progress


def latest_nlu(models: Path) -> Optional[Path]:
    """The newest NLU-only version (what ``--finetune`` starts from by default)."""
    found = sorted(p for p in models.glob("*-nlu.tar.gz") if not p.is_symlink())
    return found[-1] if found else None


def say(text: str) -> None:
    print(text, flush=True)
