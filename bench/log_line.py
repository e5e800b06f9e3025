"""What one log line costs: plain logging, and with the record factories every Tuibao process
installs (redaction of every message and argument, then the trace id); in one process and the
same run.

    .venv/bin/python bench/log_line.py [--lines 3000]

The line is the action server's most frequent one (an insurer call: a masked policy number,
ints, short words). Prints µs per line each way and the ratio.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=3000)
    args = parser.parse_args()
    os.environ.setdefault("TUIBAO_METRICS", "1")
    logging.basicConfig(stream=open(os.devnull, "w"), level=logging.INFO,
                        format="%(asctime)s %(levelname)-8s %(name)s  - %(message)s")
    log = logging.getLogger("insurers.http")

    def per_line() -> float:
        start = time.perf_counter()
        for _ in range(args.lines):
            log.info("insurer=%s %s %s -> HTTP %s %s in %d ms (attempt %d)", "sandbox",
                     "verify", "SBX9********3044", 200, "Challenge", 92, 1)
        return (time.perf_counter() - start) / args.lines * 1e6

    plain = per_line()
    from observability import logs

    logs.install()
    redacted = per_line()
    print(f"a log line: plain {plain:.1f} µs; redacted and traced {redacted:.1f} µs "
          f"(×{redacted / plain:.1f})")


if __name__ == "__main__":
    main()
