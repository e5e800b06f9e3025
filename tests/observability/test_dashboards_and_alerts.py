"""The Grafana board and the alert rules speak of metrics the processes really serve, and the
rules pass promtool's check and their own unit tests (deploy/prometheus/alerts.test.yml)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import yaml

from harness.services import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"
SERVED = {"tuibao_turns_total", "tuibao_turn_seconds_bucket", "tuibao_turn_seconds_count",
          "tuibao_nlu_fallback_total", "tuibao_surrender_funnel_total",
          "tuibao_insurer_call_seconds_bucket", "tuibao_insurer_call_seconds_count",
          "tuibao_handoff_total", "tuibao_handoff_wait_seconds_bucket"}


def _names(expr: str) -> set:
    return set(re.findall(r"\b(tuibao_[a-z_]+)", expr))


def test_every_expression_names_a_served_metric():
    board = json.loads((ROOT / "deploy" / "grafana" / "tuibao.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in board["panels"] for t in panel["targets"]]
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    exprs += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    used = set().union(*(_names(e) for e in exprs))
    assert used and used <= SERVED, used - SERVED
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {"TuibaoTurnP95OverWeChatBudget", "TuibaoInsurerErrorRate", "TuibaoHandoffWaitLong",
            "TuibaoFallbackRateHigh"} <= alerts


def test_promtool_checks_and_unit_tests_the_rules():
    assert shutil.which("promtool"), \
        "promtool is missing: bin/setup installs it (Debian's prometheus package) as root"
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        done = subprocess.run(["promtool", *args], cwd=PROMETHEUS, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
