"""Personal data never reaches logs or stored transcripts in clear: redaction and
bot.tracker_store against real SQLite and the real PostgreSQL on this machine."""
import asyncio
import json
import uuid

import pytest
import sqlalchemy as sa

from redaction import redact
from bot.tracker_store import RedactingSQLTrackerStore

ID_NUMBER = "11010519491231002X"
ID_SUFFIX = "31002X"
CODE = "482913"
PHONE = "13800138000"
CARD = "6225 8801 2345 6789"


@pytest.mark.parametrize("text,clear,masked", [
    (f"我的手机是{PHONE}", [PHONE], ["138****8000"]),
    ("手机 +86 138-0013-8000", ["0013"], ["138****8000"]),
    (f"身份证{ID_NUMBER}", [ID_NUMBER, ID_SUFFIX, "1949"], ["11***************X"]),
    (f"身份证后六位{ID_SUFFIX}", [ID_SUFFIX], ["******"]),
    ("后六位三一零零二叉", ["三一零零二", ID_SUFFIX], ["后六位******"]),
    (f"验证码{CODE}", [CODE], ["验证码******"]),
    (f"就是{CODE}", [CODE], ["******"]),
    (f"退到我的卡 {CARD}", ["6225", "8801"], ["6789"]),
    ("验证码：４８２９１３", ["４８２９１３"], ["******"]),
])
def test_redact_masks_personal_data(text, clear, masked):
    out = redact(text)
    for secret in clear:
        assert secret not in out
    for shown in masked:
        assert shown in out


def test_redact_keeps_what_agents_need():
    text = "保单号SBX1000000000012，案件TB20261125000001，退了47.19元，2026年买的"
    assert redact(text) == text


def test_redact_is_idempotent():
    once = redact(f"手机{PHONE} 身份证{ID_NUMBER} 验证码{CODE}")
    assert redact(once) == once


def _tracker(sender_id):
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    text = f"保单号SBX1000000000012 身份证后六位{ID_SUFFIX} 验证码{CODE} 手机{PHONE}"
    entities = [
        {"entity": "policy_number", "value": "SBX1000000000012", "start": 3, "end": 19},
        {"entity": "id_number", "value": ID_SUFFIX, "start": 26, "end": 32},
        {"entity": "sms_code", "value": CODE, "start": 36, "end": 42},
        {"entity": "phone_number", "value": PHONE, "start": 45, "end": 56},
    ]
    events = [
        ActionExecuted("action_listen"),
        UserUttered(text, {"name": "inform", "confidence": 0.99}, entities,
                    parse_data={"text": text, "intent": {"name": "inform", "confidence": 0.99},
                                "entities": entities}),
        SlotSet("policy_number", "SBX1000000000012"),
        SlotSet("id_suffix", ID_SUFFIX),
        SlotSet("sms_code", CODE),
        SlotSet("phone_number", PHONE),
        BotUttered(f"验证码已发送到 {PHONE}"),
    ]
    return DialogueStateTracker.from_events(sender_id, events, slots=_domain().slots)


def _domain():
    from rasa.shared.core.domain import Domain

    slot = {"type": "text", "influence_conversation": False, "mappings": [{"type": "custom"}]}
    return Domain.from_dict({"slots": {name: dict(slot) for name in
                                       ("policy_number", "id_suffix", "sms_code", "phone_number")}})


def _assert_stored_rows_redacted(engine, sender_id):
    with engine.connect() as connection:
        rows = [row[0] for row in connection.execute(
            sa.text("SELECT data FROM events WHERE sender_id = :s"), {"s": sender_id})]
    assert len(rows) == 7
    stored = "\n".join(rows)
    for secret in (ID_SUFFIX, CODE, PHONE):
        assert secret not in stored, f"{secret[:2]}… stored in clear"
    assert "SBX1000000000012" in stored  # the policy number stays readable
    slots = {json.loads(r)["name"]: json.loads(r)["value"] for r in rows if json.loads(r)["event"] == "slot"}
    assert slots["sms_code"] == "******" and slots["id_suffix"] == "******"
    assert slots["phone_number"] == "138****8000"


def _save_and_check(store, sender_id):
    asyncio.run(store.save(_tracker(sender_id)))
    _assert_stored_rows_redacted(store.engine, sender_id)
    restored = asyncio.run(store.retrieve(sender_id))
    assert CODE not in restored.latest_message.text
    assert restored.get_slot("policy_number") == "SBX1000000000012"


def test_sqlite_tracker_store_persists_no_clear_secrets(tmp_path):
    store = RedactingSQLTrackerStore(domain=_domain(), dialect="sqlite", db=str(tmp_path / "tracker.db"))
    _save_and_check(store, "sqlite-" + uuid.uuid4().hex)


def test_postgresql_tracker_store_persists_no_clear_secrets():
    store = RedactingSQLTrackerStore(domain=_domain(), dialect="postgresql", host="127.0.0.1", port=5432,
                                     db="test", username="postgres")
    sender_id = "nlu-redaction-" + uuid.uuid4().hex
    try:
        _save_and_check(store, sender_id)
    finally:
        with store.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM events WHERE sender_id = :s"), {"s": sender_id})


def test_dates_in_a_read_back_stay_readable_while_codes_are_masked():
    said = redact("预计 2026年12月1日（2026-12-01）到账，验证码 482913")
    assert "2026-12-01" in said and "482913" not in said
