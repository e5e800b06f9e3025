"""What masking the insurer session tokens a process has seen costs as it sees more of them.

    .venv/bin/python bench/registered_secrets.py [--tokens 3000]

The action server registers every holder token it receives (``redaction.register_secret``) and
masks all of them in everything it logs or stores. Before 6 December 2026 each new token
recompiled one regular expression of all of them (an alternation of up to 10,000 literals) and
every redaction ran it; under load that compile was a quarter of the action server's busy time
(docs/benchmarks.md). This prints, for both ways in the same run, the time to register N
tokens and to redact a typical logged line N times.
"""
from __future__ import annotations

import argparse
import re
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redaction  # noqa: E402

LINE = ('insurer call POST /v1/surrenders/quote policy=SBX2025000123 token={token} '
        'status=200 elapsed_ms=41 {{"refund": "47.19", "fees": [{{"name": "手续费"}}]}}')


class Alternation:
    """The former way: one pattern of every token, recompiled at each new one."""

    def __init__(self) -> None:
        self.tokens: list = []
        self.pattern = None

    def register(self, value: str) -> None:
        self.tokens.append(value)
        self.pattern = re.compile("|".join(re.escape(v) for v in
                                           sorted(self.tokens, key=len, reverse=True)))

    def mask(self, text: str) -> str:
        return self.pattern.sub("***", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=3000)
    args = parser.parse_args()
    tokens = [secrets.token_urlsafe(32) for _ in range(args.tokens)]
    lines = [LINE.format(token=t) for t in tokens]

    old = Alternation()
    began = time.perf_counter()
    for token in tokens:
        old.register(token)
    old_register = time.perf_counter() - began
    began = time.perf_counter()
    old_out = [old.mask(line) for line in lines]
    old_mask = time.perf_counter() - began

    began = time.perf_counter()
    for token in tokens:
        redaction.register_secret(token)
    new_register = time.perf_counter() - began
    began = time.perf_counter()
    new_out = [redaction._mask_registered(line) for line in lines]
    new_mask = time.perf_counter() - began
    assert old_out == new_out, "the two ways mask differently"

    print(f"{args.tokens} tokens (token_urlsafe(32)), one logged line per token, same run")
    print("| way | register all | per token | mask all lines | per line |")
    print("|---|---|---|---|---|")
    for name, reg, mask in (("alternation, recompiled (before)", old_register, old_mask),
                            ("runs and lengths (now)", new_register, new_mask)):
        print(f"| {name} | {reg:.2f} s | {reg / args.tokens * 1e3:.3f} ms | {mask:.2f} s | "
              f"{mask / args.tokens * 1e3:.3f} ms |")
    print(f"ratio before/now: register ×{old_register / new_register:.0f}, "
          f"mask ×{old_mask / new_mask:.0f}")


if __name__ == "__main__":
    main()
