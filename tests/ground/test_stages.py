"""The Stage enum is domain.yml's ``stage`` slot, value for value, and the code names stages
by it (no stage spelled as a string), so a stage added on one side fails here (no stack needed)."""
from __future__ import annotations

import json
import re

import yaml

from ground.stages import Stage
from console.labels import STAGE_TEXT
from harness.services import ROOT


def test_the_enum_holds_exactly_the_stages_of_domain_yml():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    assert [stage.value for stage in Stage] == domain["slots"]["stage"]["values"]


def test_a_stage_is_its_value_on_the_wire():
    assert Stage.QUOTE_READY == "quote_ready" and str(Stage.QUOTE_READY) == "quote_ready"
    assert json.loads(json.dumps({"value": Stage.CONFIRM_ERASURE})) == {"value": "confirm_erasure"}
    assert {"locked": 1}[Stage.LOCKED] == 1 and Stage("policies_found") is Stage.POLICIES_FOUND


def test_every_stage_has_words_for_the_agent():
    missing = [stage.value for stage in Stage if not re.search(r"[\u4e00-\u9fff]", STAGE_TEXT.get(stage, ""))]
    assert not missing


def test_no_stage_is_spelled_as_a_string_in_the_code():
    """Setting or comparing the slot with a literal instead of ``Stage`` is how the lists of
    stages drifted apart before."""
    values = "|".join(stage.value for stage in Stage)
    literal = re.compile(r"[\"'](" + values + r")[\"']")
    found = []
    for folder in ("actions", "console", "handoff"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if literal.search(code) and not re.search(r"[\"']verified[\"']:\s*verified\b", code):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
