"""Load benchmark: N closed-loop users doing whole surrenders through the WeChat webhook (and
the REST channel on the same load), for a fixed time, against a running stack.

    .venv/bin/python bench/load.py [--users 20] [--seconds 60] [--channels wechat,rest]

Needs a running stack on the demo's ports (``SANDBOX_TODAY=2026-11-25 make demo``) or the URLs
given. Before each phase it asks the sandbox for fresh policies (``POST /sandbox/load-policies``,
spec addition 5), one per surrender, each of a holder of its own. Each user, without think time:
你好 → 我要退保 → policy number → ID suffix → the SMS code (read from the sandbox's outbox,
outside the timed turn) → 确认, checking every answer (the ask for the policy number, the ask
for the ID suffix, the masked phone, the ¥47.19 refund, a case number) and starts the next
surrender with the next policy. WeChat turns are real signed, AES-encrypted callbacks (the
simulator's own ``WebhookSigner``) whose passive replies are decrypted and checked.

Reported per channel: turns/s, p50/p95/p99 latency, failed turns (any HTTP error, no reply, a
wrong reply), WeChat answers after 4.5 s (the channel must answer within WeChat's 5 s), and per
process of the stack (found by its listening port, with its child processes): CPU seconds,
CPU %, resident memory. The generator's own CPU is reported too (it should stay small).
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import resource
import secrets
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.delivery import InboundMessage, WebhookSigner  # noqa: E402
from simulator.settings import SimulatorSettings  # noqa: E402

LATE_S = 4.5  # a passive reply later than this risks WeChat's 5 s cut
PORTS = {"rasa": 5005, "actions": 5055, "sandbox": 8090, "simulator": 8088, "console": 8080}
_msg_ids = itertools.count(int(time.time() * 1000) * 1000)
CASE_RE = re.compile(r"TB\d{14}")


def script(policy: dict) -> List[Tuple[str, str]]:
    """(what the user sends, what the answer must contain); "<code>" is read from the outbox."""
    phone = policy["phone"]
    return [("你好", ""), ("我要退保", "保单号"), (policy["policy_number"], "身份证"),
            (policy["id_suffix"], f"{phone[:3]}****{phone[-4:]}"), ("<code>", "47.19"),
            ("确认", "TB")]


# ------------------------------------------------------------------ processes (from /proc)
def _listening_inodes(port: int) -> set:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    return inodes


def pids_on_port(port: int) -> List[int]:
    """Processes holding a listening socket on ``port`` (Sanic's workers share the parent's)."""
    inodes = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in fds):
                found.append(int(pid))
        except OSError:
            continue
    return found


def _children(pid: int) -> List[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            kids = [int(k) for k in handle.read().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _children(k)]


def process_group(port: int) -> List[int]:
    pids = set(pids_on_port(port))
    for pid in list(pids):
        pids.update(_children(pid))
    return sorted(pids)


def cpu_seconds(pid: int) -> float:
    try:
        fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return 0.0


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def snapshot(groups: Dict[str, List[int]]) -> Dict[str, Dict[int, float]]:
    """CPU seconds per process of each group."""
    return {name: {p: cpu_seconds(p) for p in pids} for name, pids in groups.items()}


def cpu_used(before: Dict[int, float], after: Dict[int, float]) -> float:
    """CPU seconds between two snapshots of a group whose processes may change (a model promote
    replaces Rasa's, bot/handover.py): a process started meanwhile counts from zero; one that
    ended meanwhile is not counted after its last snapshot (so the figure is a floor)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


# ------------------------------------------------------------------ users
@dataclass
class Results:
    latencies: List[float] = field(default_factory=list)
    failures: List[str] = field(default_factory=list)
    late: int = 0
    surrenders: int = 0


class Channel:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def turn(self, user: str, text: str) -> Tuple[Optional[str], float]:
        raise NotImplementedError


class WeChat(Channel):
    name = "wechat"

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        super().__init__(session)
        self.url = url
        self.signer = WebhookSigner(SimulatorSettings.from_env())

    async def turn(self, user: str, text: str) -> Tuple[Optional[str], float]:
        message = InboundMessage(openid=user, create_time=int(time.time()), msg_type="text",
                                 content=text, msg_id=next(_msg_ids))
        signed = self.signer.sign(message, str(int(time.time())), secrets.token_hex(5))
        started = time.perf_counter()
        async with self.session.post(self.url, params=signed.params, data=signed.body.encode(),
                                     headers={"Content-Type": "text/xml"}) as answer:
            body = await answer.text()
            elapsed = time.perf_counter() - started
            if answer.status != 200:
                return None, elapsed
        if not body.lstrip().startswith("<xml"):
            return None, elapsed  # "success": no passive reply
        return self.signer.read_reply(body).content, elapsed


class Rest(Channel):
    name = "rest"

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        super().__init__(session)
        self.url = url

    async def turn(self, user: str, text: str) -> Tuple[Optional[str], float]:
        started = time.perf_counter()
        async with self.session.post(self.url, json={"sender": user, "message": text}) as answer:
            body = await answer.text()
            elapsed = time.perf_counter() - started
            if answer.status != 200:
                return None, elapsed
        return "\n".join(m.get("text") or "" for m in json.loads(body)), elapsed


async def sms_code(session: aiohttp.ClientSession, sandbox: str, phone: str) -> str:
    async with session.get(f"{sandbox}/sandbox/sms", params={"phone": phone}) as answer:
        return (await answer.json())[0]["code"]


async def user_loop(channel: Channel, session: aiohttp.ClientSession, sandbox: str,
                    policies: asyncio.Queue, deadline: float, results: Results) -> None:
    while time.monotonic() < deadline:
        try:
            policy = policies.get_nowait()
        except asyncio.QueueEmpty:
            results.failures.append("ran out of loaded policies")
            return
        user = "oLoad" + secrets.token_hex(11)
        for text, expected in script(policy):
            if time.monotonic() >= deadline:
                return
            try:
                if text == "<code>":
                    text = await sms_code(session, sandbox, policy["phone"])
                reply, elapsed = await channel.turn(user, text)
            except Exception as exc:  # noqa: BLE001 - a failed turn, counted and shown
                results.failures.append(f"{text}: {type(exc).__name__} {exc}")
                break
            results.latencies.append(elapsed)
            if elapsed > LATE_S:
                results.late += 1
            if not reply or expected not in reply:
                results.failures.append(f"{text!r}: expected {expected!r} in {reply!r}")
                break
        else:
            results.surrenders += 1


async def load_policies(session: aiohttp.ClientSession, sandbox: str, count: int) -> List[dict]:
    loaded: List[dict] = []
    while len(loaded) < count:
        batch = min(1000, count - len(loaded))
        async with session.post(f"{sandbox}/sandbox/load-policies", json={"count": batch}) as answer:
            if answer.status != 201:
                raise SystemExit(f"load-policies: {answer.status} {await answer.text()} "
                                 "(spec addition 5; is the sandbox up to date?)")
            loaded += await answer.json()
    return loaded


async def phase(channel_name: str, args, groups: Dict[str, List[int]]) -> dict:
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=args.users * 2 + 10)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        # Enough policies for 80 surrenders/s (480 turns/s), far above what the stack does.
        policies: asyncio.Queue = asyncio.Queue()
        for policy in await load_policies(session, args.sandbox, max(args.users * 2,
                                                                      int(args.seconds * 80))):
            policies.put_nowait(policy)
        channel: Channel = (WeChat(session, args.webhook) if channel_name == "wechat"
                            else Rest(session, args.rest))
        # Warm-up: one surrender per user, not measured (first turns fill caches).
        warm = Results()
        await asyncio.gather(*(user_loop(channel, session, args.sandbox, policies,
                                         time.monotonic() + args.warmup, warm)
                               for _ in range(args.users)))
        results = Results()
        cpu_before, own_before = snapshot(groups), resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        await asyncio.gather(*(user_loop(channel, session, args.sandbox, policies,
                                         started + args.seconds, results)
                               for _ in range(args.users)))
        wall = time.monotonic() - started
        # Found again (a Sanic worker restarted meanwhile); groups named by another caller
        # (bench/cluster_load.py: replicas on ports of their own) keep the processes they had.
        groups = {name: (process_group(PORTS[name]) if name in PORTS else []) or pids
                  for name, pids in groups.items()}
        cpu_after, own_after = snapshot(groups), resource.getrusage(resource.RUSAGE_SELF)
    lat = sorted(results.latencies)

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    return {
        "channel": channel_name, "users": args.users, "seconds": round(wall, 1),
        "turns": len(lat), "turns_per_s": len(lat) / wall, "surrenders": results.surrenders,
        "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
        "failed": len(results.failures), "late_over_4_5s": results.late,
        "failures_sample": results.failures[:5],
        "cpu_s": {name: cpu_used(cpu_before[name], cpu_after[name]) for name in groups},
        "cpu_pct": {name: 100 * cpu_used(cpu_before[name], cpu_after[name]) / wall
                    for name in groups},
        "rss_mb": {name: sum(rss_mb(p) for p in pids) for name, pids in groups.items()},
        "processes": {name: len(pids) for name, pids in groups.items()},
        "generator_cpu_s": (own_after.ru_utime + own_after.ru_stime
                            - own_before.ru_utime - own_before.ru_stime),
        "loadavg": os.getloadavg(),
    }


def print_table(rows: List[dict], label: str) -> None:
    print(f"\n{label}  (machine: {os.cpu_count()} cores, load average at end "
          f"{'/'.join(f'{x:.2f}' for x in rows[-1]['loadavg'])})")
    print("| channel | users | s | turns | turns/s | p50 ms | p95 ms | p99 ms | failed | "
          "answers > 4.5 s | generator CPU % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['channel']} | {r['users']} | {r['seconds']} | {r['turns']} | "
              f"{r['turns_per_s']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
              f"{r['p99_ms']:.0f} | {r['failed']} | {r['late_over_4_5s']} | "
              f"{100 * r['generator_cpu_s'] / r['seconds']:.0f} |")
    names = list(rows[0]["cpu_s"])
    print("\n| channel | " + " | ".join(f"{n} CPU % / RSS MB (procs)" for n in names) +
          " | CPU ms per turn (stack) |")
    print("|---|" + "---|" * (len(names) + 1))
    for r in rows:
        per_turn = 1000 * sum(r["cpu_s"].values()) / max(r["turns"], 1)
        print(f"| {r['channel']} | " + " | ".join(
            f"{r['cpu_pct'][n]:.0f} / {r['rss_mb'][n]:.0f} ({r['processes'][n]})" for n in names)
            + f" | {per_turn:.0f} |")
    for r in rows:
        for failure in r["failures_sample"]:
            print(f"  {r['channel']} failure: {failure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time per channel")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds first")
    parser.add_argument("--channels", default="wechat,rest")
    parser.add_argument("--webhook", default="http://127.0.0.1:5005/webhooks/wechat/webhook")
    parser.add_argument("--rest", default="http://127.0.0.1:5005/webhooks/rest/webhook")
    parser.add_argument("--sandbox", default="http://127.0.0.1:8090")
    parser.add_argument("--label", default="load", help="a title for the table")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if not 1 <= args.users <= 500 or not 1 <= args.seconds <= 3600:
        raise SystemExit("--users 1..500, --seconds 1..3600")
    groups = {name: process_group(port) for name, port in PORTS.items()}
    groups = {name: pids for name, pids in groups.items() if pids}
    rows = [asyncio.run(phase(name.strip(), args, groups)) for name in args.channels.split(",")]
    print_table(rows, args.label)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
