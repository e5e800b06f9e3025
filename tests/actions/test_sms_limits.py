"""Issue 18.8 in the bot: when the insurer refuses to send another SMS code yet, the user is told
from when they can ask again, and nothing is kept as if a code had gone out."""
from __future__ import annotations

import asyncio
import re

import requests

from actions.forms import ValidateSurrenderForm
from actions.lookup import ValidateLookupForm

from .conversation import Conversation, responses, slot_values

POLICY, SUFFIX, PHONE = "SBX1000000000012", "31002X", "13800138000"


def limits_on(insurer) -> None:
    requests.put(f"{insurer.url}/sandbox/sms-limits", timeout=10,
                 json={"min_interval_s": 60, "max_per_hour": 5}).raise_for_status()


def limits_off(insurer) -> None:
    requests.put(f"{insurer.url}/sandbox/sms-limits", timeout=10,
                 json={"min_interval_s": 0, "max_per_hour": 0}).raise_for_status()


def test_a_second_code_within_the_minute_is_refused_with_the_time_to_ask_again(insurer, domain):
    limits_on(insurer)
    try:
        first, again = Conversation("wx-sms-1", domain), Conversation("wx-sms-2", domain)
        for conv in (first, again):
            conv.active_loop, conv.slots["requested_slot"] = "surrender_form", "id_suffix"
            conv.slots["policy_number"] = POLICY
        asyncio.run(first.run(ValidateSurrenderForm(), extracted={"id_suffix": SUFFIX}))
        events, messages = asyncio.run(again.run(ValidateSurrenderForm(),
                                                 extracted={"id_suffix": SUFFIX}))
        assert responses(messages) == ["utter_sms_code_too_soon"]
        said = again.render(messages[0])
        assert re.search(r"\d\d:\d\d:\d\d之后再试", said), said
        values = slot_values(events)
        assert values["id_suffix"] is None and not values.get("challenge_id")
        assert len(insurer.sms(PHONE)) == 1

        lookup = Conversation("wx-sms-3", domain)
        lookup.active_loop, lookup.slots["requested_slot"] = "lookup_form", "lookup_phone"
        events, messages = asyncio.run(lookup.run(ValidateLookupForm(), extracted={
            "lookup_phone": PHONE, "lookup_id_suffix": SUFFIX}))
        # The sandbox insurer sent nothing this time; 恒信人寿 (the same person there) did.
        assert [p["insurer"] for p in slot_values(events)["lookup_pending"]] == ["hengxin"]
        assert len(insurer.sms(PHONE)) == 2
    finally:
        limits_off(insurer)
