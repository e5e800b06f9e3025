"""Read a process's ``GET /metrics`` as a test would read a Prometheus scrape."""
from __future__ import annotations

from typing import Dict, Optional

import requests
from prometheus_client.parser import text_string_to_metric_families


def scrape(base_url: str, token: Optional[str] = None) -> Dict[tuple, float]:
    """{(sample name, sorted labels...): value} of one process's metrics."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = requests.get(f"{base_url}/metrics", headers=headers, timeout=10)
    answer.raise_for_status()
    samples: Dict[tuple, float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, *sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: Dict[tuple, float], name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist yet (nothing counted)."""
    return samples.get((name, *sorted(labels.items())), 0.0)
