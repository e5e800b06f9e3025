"""What the latency benchmarks share: the percentile they report and the table that compares a
channel's turns with the REST channel's, measured in the same run."""
from __future__ import annotations

import statistics
from typing import Dict, List, Tuple


def percentile(values: List[float], share: float) -> float:
    """The nearest-rank percentile (``share`` 0.5 = median) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def print_against_rest(latencies: Dict[str, List[float]], channel: str) -> Tuple[float, float]:
    """One row per measured series (seconds in, milliseconds out), then ``channel``'s p50 and
    p95 as ratios of the REST channel's; returns the two ratios."""
    width = max(len(name) for name in latencies)
    print(f"{'channel':{width}} {'turns':>5} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for name, values in latencies.items():
        print(f"{name:{width}} {len(values):5d} {percentile(values, .5) * 1000:8.1f} "
              f"{percentile(values, .95) * 1000:8.1f} {statistics.mean(values) * 1000:8.1f}")
    ratio50 = percentile(latencies[channel], .5) / percentile(latencies["rest"], .5)
    ratio95 = percentile(latencies[channel], .95) / percentile(latencies["rest"], .95)
    return ratio50, ratio95
