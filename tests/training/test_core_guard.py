"""The core guard: an insurer's extension can never silently take a core request.

The issue's trial: an insurer adds "退钱" under its own intent (ask_invoice). Lint names the
collision with the core's request_surrender example, the gate fails naming request_surrender
(before scoring any model: no model can make that data right), the model trained on it is
refused by promote, and the server keeps running what it ran. A reviewed override is the only
way to keep such an example. No training here: the model is a stand-in archive; the gate's
scoring with real models is covered by test_workflow.py and the rules by test_gate_rules.py."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import model as bot_model
from tests.training.conftest import tuibao
from tests.training.test_model_versions import TOKEN, FakeRasa
from training import deploy

INVOICE = ["发票怎么开", "我要开发票", "电子发票在哪里下载", "能给我开个发票吗", "发票抬头写错了怎么改",
           "保费发票怎么申请", "可以开专用发票吗", "发票什么时候寄出", "发票没收到", "帮我补开一张发票",
           "纸质发票能邮寄吗", "发票税号怎么填"]
HELDOUT = ["我想要一张保费的发票", "发票开错了能重开吗"]
EXAMPLES = Path("extensions/acme/data/nlu/ask_invoice.yml")


@pytest.fixture
def with_refund_money(project, tmp_path):
    """The insurer's intent with the trial's bad example among twelve good ones."""
    (tmp_path / "ex.txt").write_text("\n".join(INVOICE[:6] + ["退钱"] + INVOICE[6:]), encoding="utf-8")
    (tmp_path / "ho.txt").write_text("\n".join(HELDOUT), encoding="utf-8")
    done = tuibao(project, "intent", "new", "ask_invoice", "--insurer", "acme", "--examples",
                  str(tmp_path / "ex.txt"), "--heldout", str(tmp_path / "ho.txt"),
                  "--response", "发票请在保险公司官网的“发票服务”里申请，电子发票会发到您的邮箱。")
    assert done.returncode == 0, done.stderr
    line = next(n for n, text in enumerate((project / EXAMPLES).read_text(encoding="utf-8")
                                           .splitlines(), start=1) if text.strip() == "- 退钱")
    return project, line


def test_lint_names_the_collision_with_the_core_example_and_where_it_is(with_refund_money):
    project, line = with_refund_money
    done = tuibao(project, "data", "lint", "--data", "extensions/acme", "--no-rasa-validate")
    out = done.stdout
    assert done.returncode == 1, out
    found = re.search(rf"^{re.escape(str(EXAMPLES))}:{line}: error \[core-collision\] '退钱' "
                      r"\(ask_invoice\) is inside core request_surrender example '([^']+)' at "
                      r"(nlu/\w+\.yml):(\d+): customers who say it want request_surrender$", out, re.M)
    assert found, out
    core_text, core_file, core_line = found.groups()
    # the example named is really there, under request_surrender
    assert f"- {core_text}" in (project / core_file).read_text(encoding="utf-8").splitlines()[int(core_line) - 1]
    assert "退钱" in core_text
    # the good examples are not findings
    assert out.count("[core-collision]") <= 3  # 退钱 against each core intent that says it
    assert all("'退钱'" in l for l in out.splitlines() if "[core-collision]" in l)
    assert "core_overrides.yml" in out  # the fix says how to keep it, on purpose


def test_the_gate_fails_naming_request_surrender_and_the_live_model_is_unchanged(with_refund_money):
    project, _ = with_refund_money
    models = project / "models"
    models.mkdir()
    # what the server runs, and the model trained on the insurer's data (stand-in archives)
    live = bot_model.version_name("0" * 64)
    (models / f"{live}.tar.gz").write_bytes(b"live")
    running = bot_model.record_version(models, live, "0" * 64).resolve()  # current.tar.gz -> it
    deploy.write_verdict(running, True, [], "earlier")
    fp = bot_model.fingerprint(project)
    name = bot_model.version_name(fp)
    (models / f"{name}.tar.gz").write_bytes(b"candidate")
    candidate = bot_model.record_version(models, name, fp).resolve()
    assert (models / "current.tar.gz").resolve() == running != candidate

    gate = tuibao(project, "gate")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert re.search(r"^FAIL core guard: extensions/acme/data/nlu/ask_invoice\.yml:\d+: '退钱' "
                     r"\(ask_invoice\) is inside core request_surrender ", gate.stdout, re.M), gate.stdout
    assert "gate: FAILED" in gate.stdout

    server = FakeRasa("current.tar.gz")
    try:
        promote = tuibao(project, "model", "promote", "--url", server.url, "--token", TOKEN)
        assert promote.returncode == 1, promote.stdout + promote.stderr
        assert "failed the gate" in promote.stderr and "request_surrender" in promote.stderr
        assert server.loads == [] and server.model_file == "current.tar.gz"
        assert (models / "current.tar.gz").resolve() == running
        assert running.read_bytes() == b"live"
    finally:
        server.close()


def test_a_reviewed_override_keeps_the_example_as_a_note(with_refund_money):
    project, line = with_refund_money
    overrides = project / "extensions" / "acme" / "core_overrides.yml"
    overrides.write_text("overrides:\n  - example: 退钱\n    core_intent: request_surrender\n"
                         "    reason: ''\n", encoding="utf-8")
    unreviewed = tuibao(project, "data", "lint", "--data", "extensions/acme", "--no-rasa-validate")
    assert unreviewed.returncode == 1 and "[core-collision] '退钱'" in unreviewed.stdout
    text = overrides.read_text(encoding="utf-8").replace("    reason: ''\n", "")
    for intent in ("request_surrender", "ask_refund_time", "ask_surrender_fee"):
        text += (f"  - example: 退钱\n    core_intent: {intent}\n    reviewed_by: core-team-li\n"
                 "    reason: test of the reviewed flag\n")
    overrides.write_text("overrides:\n" + text.split("overrides:\n", 1)[1], encoding="utf-8")
    reviewed = tuibao(project, "data", "lint", "--data", "extensions/acme", "--no-rasa-validate")
    assert reviewed.returncode == 0, reviewed.stdout
    assert f"{EXAMPLES}:{line}: note [core-override] '退钱'" in reviewed.stdout
    assert "reviewed override of core-team-li" in reviewed.stdout
