"""A model promote on the scaled-out stack under load: is any answer lost, or later than 1 s?

    SANDBOX_TODAY=2026-11-25 bin/cluster up
    SANDBOX_TODAY=2026-11-25 .venv/bin/python bench/rolling_promote.py [--users 6] [--pause 0.3]

Users do whole WeChat surrenders through the ingress (bench/load.py's script: signed, encrypted
callbacks, every answer checked), each pausing ``--pause`` seconds between messages, the whole
time. After a quiet lead-in, ``bin/cluster promote`` (cluster.control.promote) moves the Rasa
replicas to model B one at a time; then the same for model A again (a rollback), so the cluster
is left on the model it ran. Model B is a copy of the running model under another name in a
scratch folder: the replicas load the same bytes a new version would have.

Printed per phase (before, during the promote, during the rollback, after): answers, lost
(failed or wrong), p50, p95, the longest, and how many took over 1 s. Timings are disturbed by
other work on the machine: the load average is printed with them.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import List, Tuple

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import load  # noqa: E402  bench/load.py

from cluster import control  # noqa: E402
from cluster.settings import ClusterSettings  # noqa: E402
from training.deploy import pointer  # noqa: E402

LATE_S = 1.0  # the bound for an answer during a swap


class Timeline:
    """Every answer: when it was asked (monotonic), how long it took, whether it was right."""

    def __init__(self) -> None:
        self.answers: List[Tuple[float, float, bool]] = []
        self.lost: List[str] = []  # what each lost answer was, to print
        self.marks: List[Tuple[str, float]] = [("before", time.monotonic())]

    def mark(self, phase: str) -> None:
        self.marks.append((phase, time.monotonic()))

    def phase_of(self, asked: float) -> str:
        return [name for name, at in self.marks if at <= asked][-1]


async def user(channel: load.WeChat, session: aiohttp.ClientSession, sandbox: str,
               policies: asyncio.Queue, stop: threading.Event, pause: float, timeline: Timeline) -> None:
    while not stop.is_set():
        policy = policies.get_nowait()
        openid = "oRoll" + secrets.token_hex(11)
        for text, expected in load.script(policy):
            if stop.is_set():
                return
            if text == "<code>":
                text = await load.sms_code(session, sandbox, policy["phone"])
            asked = time.monotonic()
            try:
                reply, elapsed = await channel.turn(openid, text)
                right = bool(reply) and expected in reply
            except Exception as error:  # noqa: BLE001 - a lost answer, counted
                reply, elapsed, right = f"{type(error).__name__} {error}", time.monotonic() - asked, False
            timeline.answers.append((asked, elapsed, right))
            if not right:
                timeline.lost.append(f"{timeline.phase_of(asked)}: {text[:20]!r} after {elapsed:.1f} s "
                                     f"got {str(reply)[:80]!r}, expected {expected!r}")
                break  # this surrender is lost; the next user starts afresh
            await asyncio.sleep(pause)


async def drive(args, settings: ClusterSettings, stop: threading.Event, timeline: Timeline) -> None:
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        policies: asyncio.Queue = asyncio.Queue()
        for policy in await load.load_policies(session, args.sandbox, 3000):
            policies.put_nowait(policy)
        channel = load.WeChat(session, f"{settings.ingress_url}/webhooks/wechat/webhook")
        await asyncio.gather(*(user(channel, session, args.sandbox, policies, stop, args.pause, timeline)
                               for _ in range(args.users)))


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6)
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between a user's messages")
    parser.add_argument("--lead", type=float, default=20.0, help="seconds of load before and after")
    args = parser.parse_args()
    settings = ClusterSettings.from_env()
    args.sandbox = f"http://127.0.0.1:{settings.sandbox_port}"
    running = pointer(ROOT, "current.tar.gz") or settings.model.resolve()
    scratch = Path(tempfile.mkdtemp(prefix="tuibao-roll-"))
    copy = scratch / f"{running.name.replace('.tar.gz', '')}-copy.tar.gz"
    shutil.copyfile(running, copy)

    # The pointers as found, put back at the end (the rollback leaves "previous" on the copy).
    links = {name: os.readlink(ROOT / "models" / name) for name in ("current.tar.gz", "previous.tar.gz")
             if (ROOT / "models" / name).is_symlink()}
    # The promote adopts the copy into models/ as a version: removed at the end.
    files_before = set((ROOT / "models").iterdir())

    timeline, stop = Timeline(), threading.Event()
    driver = threading.Thread(target=lambda: asyncio.run(drive(args, settings, stop, timeline)))
    driver.start()
    # The promote's steps on the same clock as the answers.
    control._say = lambda message: print(f"  [{time.monotonic() - timeline.marks[0][1]:6.1f} s] {message}",
                                         flush=True)
    took = {}
    try:
        time.sleep(args.lead)
        for phase, model in (("promote", copy), ("rollback", running)):
            timeline.mark(phase)
            started = time.monotonic()
            print(f"{phase} starts at {time.monotonic() - timeline.marks[0][1]:.1f} s", flush=True)
            for line in control.promote(settings, model, skip_gate=True):
                print(f"  {line}", flush=True)
            took[phase] = time.monotonic() - started
        timeline.mark("after")
        time.sleep(args.lead)
    finally:
        stop.set()
        driver.join()
        shutil.rmtree(scratch, ignore_errors=True)
        for name in ("current.tar.gz", "previous.tar.gz"):
            link = ROOT / "models" / name
            link.unlink(missing_ok=True)
            if name in links:
                link.symlink_to(links[name])
        for adopted in set((ROOT / "models").iterdir()) - files_before:
            if not adopted.is_symlink() and adopted.name.startswith(copy.name.split(".tar.gz")[0]):
                adopted.unlink()

    print(f"\n{args.users} WeChat users through the ingress, {args.pause:.1f} s between messages; "
          f"{len(settings.rasa_ports)} Rasa replicas x {settings.rasa_workers} workers; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print("| phase | took | answers | lost | p50 ms | p95 ms | longest ms | over 1 s |")
    print("|---|---|---|---|---|---|---|---|")
    for phase, _ in timeline.marks:
        rows = [(elapsed, right) for asked, elapsed, right in timeline.answers
                if timeline.phase_of(asked) == phase]
        times = [elapsed for elapsed, _ in rows]
        lost = sum(1 for _, right in rows if not right)
        duration = f"{took[phase]:.0f} s" if phase in took else f"{args.lead:.0f} s"
        print(f"| {phase} | {duration} | {len(rows)} | {lost} | {percentile(times, .5) * 1000:.0f} | "
              f"{percentile(times, .95) * 1000:.0f} | {max(times, default=0) * 1000:.0f} | "
              f"{sum(1 for t in times if t > LATE_S)} |")
    for line in timeline.lost:
        print(f"lost: {line}")
    start = timeline.marks[0][1]
    for asked, elapsed, _ in timeline.answers:
        if elapsed > LATE_S:
            print(f"over 1 s: asked at {asked - start:.1f} s ({timeline.phase_of(asked)}), took {elapsed:.2f} s")


if __name__ == "__main__":
    main()
