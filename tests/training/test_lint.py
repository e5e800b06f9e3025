"""`tuibao data lint` finds what `rasa data validate` does not, with file, line and a fix."""
from __future__ import annotations

import re
from pathlib import Path

from ground.identifiers import id_check_character
from tests.training.conftest import tuibao

EXAMPLES = Path("extensions/hengxin/data/nlu/cancel_auto_renewal.yml")


def _append(project: Path, rel: Path, lines) -> int:
    """Append example lines to an intent file; returns the line number of the first."""
    path = project / rel
    text = path.read_text(encoding="utf-8")
    first = len(text.splitlines()) + 1
    path.write_text(text + "".join(f"    - {line}\n" for line in lines), encoding="utf-8")
    return first


def test_the_worked_example_is_lint_clean(project):
    done = tuibao(project, "data", "lint", "--data", "extensions/hengxin")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 errors" in done.stdout
    assert "rasa data validate: clean" in done.stdout


def test_planted_duplicate_id_number_and_leak_are_each_named_with_file_and_line(project):
    id_number = "32010219800101123" + id_check_character("32010219800101123")
    leaked = "退保有手续费吗"  # a held-out line of ask_surrender_fee (tests/heldout/heldout.yml)
    first = _append(project, EXAMPLES, ["我要退保",  # core request_surrender example
                                        f"我身份证{id_number}自动续费怎么关",
                                        leaked,
                                        "手机13912345678的自动扣费帮我停了"])
    done = tuibao(project, "data", "lint", "--data", "extensions/hengxin", "--no-rasa-validate")
    out = done.stdout
    assert done.returncode == 1, out
    where = str(EXAMPLES)
    assert f"{where}:{first}: error [duplicate-across-intents] '我要退保' (cancel_auto_renewal)" in out
    # the core twin, wherever the core data has it first (several files say 我要退保 in some form)
    assert re.search(r"\(request_surrender\) at nlu/\w+\.yml:\d+", out), out
    assert f"{where}:{first + 1}: error [real-identifier] a valid GB 11643 ID number" in out
    assert id_number not in out  # the finding itself does not repeat the number in clear
    assert f"{where}:{first + 2}: error [heldout-leak] '{leaked}' is also held-out line tests/heldout/heldout.yml:" in out
    assert f"{where}:{first + 3}: error [real-identifier] a real-looking mobile number" in out
    assert out.count("    fix: ") >= 4
    # the core's own findings are not this insurer's business: only its folder is reported
    # (core files appear only as the twin a finding names)
    findings = [line for line in out.splitlines() if re.match(r"^\S+:\d+: (error|warning|note) ", line)]
    assert findings and all(line.startswith("extensions/hengxin/") for line in findings), out


def test_a_sandbox_test_holder_and_a_wrong_check_character_are_fine(project):
    wrong = "32010219800101123" + ("0" if id_check_character("32010219800101123") != "0" else "1")
    _append(project, EXAMPLES, ["李娜 440106199003150028 的自动续费怎么关",
                                f"证件{wrong}关自动扣费"])
    done = tuibao(project, "data", "lint", "--data", "extensions/hengxin", "--no-rasa-validate")
    assert "real-identifier" not in done.stdout
    assert done.returncode == 0, done.stdout


def test_too_few_examples_and_a_missing_rule_are_errors(project):
    scaffold = tuibao(project, "intent", "new", "ask_renewal_price", "--insurer", "hengxin")
    assert scaffold.returncode == 0, scaffold.stderr
    (project / "extensions/hengxin/data/rules/ask_renewal_price.yml").unlink()
    done = tuibao(project, "data", "lint", "--data", "extensions/hengxin", "--no-rasa-validate")
    assert done.returncode == 1
    assert "[intent-without-examples] intent ask_renewal_price" in done.stdout
    assert "[missing-response] hengxin's intent ask_renewal_price has no rule" in done.stdout
    assert "[placeholder]" in done.stdout


def test_lint_says_when_a_path_does_not_exist(project):
    done = tuibao(project, "data", "lint", "--data", "extensions/nobody", "--no-rasa-validate")
    assert done.returncode == 2
    assert "extensions/nobody does not exist" in done.stdout


def test_intent_new_refuses_taken_and_malformed_names(project):
    taken = tuibao(project, "intent", "new", "cancel_auto_renewal", "--insurer", "hengxin")
    assert taken.returncode == 2 and "already exists" in taken.stderr
    core = tuibao(project, "intent", "new", "greet", "--insurer", "hengxin")
    assert core.returncode == 2 and "already exists" in core.stderr
    bad = tuibao(project, "intent", "new", "Cancel-Renewal", "--insurer", "hengxin")
    assert bad.returncode == 2 and "snake_case" in bad.stderr
    insurer = tuibao(project, "intent", "new", "ask_x", "--insurer", "../core")
    assert insurer.returncode == 2 and "insurer id" in insurer.stderr


def test_every_level_has_help(project):
    for args in ([], ["data"], ["data", "lint"], ["intent", "new"], ["train"], ["eval"], ["gate"],
                 ["review"], ["review", "export"], ["review", "import"], ["model"],
                 ["model", "promote"], ["model", "rollback"]):
        done = tuibao(project, *args, "--help")
        assert done.returncode == 0 and "usage: tuibao" in done.stdout, args
