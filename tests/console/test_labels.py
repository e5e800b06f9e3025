"""Nothing raw at the console: every stage the bot can be in, every handoff reason, every audit
action and every intent a trainer may give has words a person reads (no stack needed)."""
from __future__ import annotations

import re

import yaml

from console.labels import INTENT_NAMES, STAGE_TEXT, described_labels
from console.transcript import bot_knowledge
from ground.stages import Stage
from handoff.store import HANDOFF_REASONS
from harness.services import ROOT
from training.review import label_choices

SCRIPT = (ROOT / "console" / "static" / "console.js").read_text(encoding="utf-8")


def js_object_keys(name: str) -> set:
    """The keys of ``const NAME = {...};`` in console.js."""
    body = re.search(r"const " + name + r" = \{(.*?)\};", SCRIPT, re.S)
    assert body, name
    return set(re.findall(r"(\w+):\s*\"", body.group(1)))


def stage_values_in_domain() -> set:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return set(domain["slots"]["stage"]["values"])


def stage_values_set_by_code() -> set:
    """Every stage an action (or the handoff/console code) sets, as written in the source
    (a ``Stage`` member, or a string literal)."""
    found = set()
    for folder in ("actions", "handoff", "console", "privacy"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found.update(re.findall(r"SlotSet\(\s*\"stage\",\s*\"(\w+)\"", text))
            found.update(re.findall(r"\"stage\":\s*\"(\w+)\"", text))
            for name in re.findall(r"SlotSet\(\s*\"stage\",\s*Stage\.(\w+)", text) \
                    + re.findall(r"\"stage\":\s*Stage\.(\w+)", text):
                found.add(Stage[name].value)
    return found


def test_every_stage_of_the_domain_and_the_actions_has_words_for_the_agent():
    labelled = {stage for stage in STAGE_TEXT if stage is not None}
    assert stage_values_in_domain() == labelled
    set_by_code = stage_values_set_by_code()
    assert {"case_not_found", "policies_found", "erasure_verify", "confirm_erasure"} <= set_by_code
    assert set_by_code <= labelled, set_by_code - labelled


def test_the_side_panel_never_shows_a_raw_stage():
    for stage in sorted(stage_values_in_domain()) + ["a_stage_added_later"]:
        panel = bot_knowledge({"slots": {"stage": stage}, "events": []})
        assert not re.search(r"[a-z]", panel["stage_text"]), (stage, panel["stage_text"])


def test_the_side_panel_says_when_the_user_complained():
    calm = {"events": [{"event": "user", "text": "转人工",
                        "parse_data": {"intent": {"name": "request_human"}}}]}
    angry = {"events": calm["events"] + [{"event": "user", "text": "什么破服务，我要投诉",
                                          "parse_data": {"intent": {"name": "complain"}}}]}
    assert bot_knowledge(calm)["upset"] is False
    assert bot_knowledge(angry)["upset"] is True


def test_every_handoff_reason_reads_in_chinese_and_a_new_one_falls_back_to_words():
    reasons = js_object_keys("REASONS")
    assert set(HANDOFF_REASONS) <= reasons and "complaint" in reasons
    assert 'REASONS[reason] || "其他原因"' in SCRIPT


def test_every_audit_action_the_console_writes_reads_in_chinese():
    written = set()
    for path in (ROOT / "console").glob("*.py"):
        written.update(re.findall(r"audit\(session,\s*\"(\w+)\"", path.read_text(encoding="utf-8")))
        written.update(re.findall(r"give_back\(chat, session, \"(\w+)\"\)",
                                  path.read_text(encoding="utf-8")))
    assert {"view", "take", "reply", "assign", "review_import"} <= written
    assert written <= js_object_keys("AUDIT_ACTIONS"), written - js_object_keys("AUDIT_ACTIONS")


def test_every_label_a_trainer_may_give_has_a_chinese_name_and_a_real_example():
    choices = label_choices(ROOT)
    missing = set(choices) - set(INTENT_NAMES)
    assert not missing, f"name these intents in console/labels.py: {sorted(missing)}"
    described = described_labels(ROOT, choices)
    for intent, entry in described.items():
        assert entry["name"] and entry["example"], intent
        assert not re.search(r"[a-z]{3,}", entry["name"]), entry
    assert described["cancel_auto_renewal"]["insurer"] == "恒信人寿"
    assert described["request_surrender"]["insurer"] is None
