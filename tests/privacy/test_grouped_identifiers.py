"""Issue 18.5 and 18.6: identifiers written with dots, slashes, commas or spaces between their
groups, and identifier values nested in lists or objects (Rasa's slash syntax), are masked the
same way wherever ``redaction`` masks (tracker store events, logs, the console, review export);
amounts, dates, versions, policy and case numbers stay as they were."""
import pytest

from bot.tracker_store import DEFAULT_SENSITIVE_SLOTS, redact_event_data
from redaction import mask_value, redact
from redaction.logs import redact as redact_log_line


@pytest.mark.parametrize("written, masked", [
    ("我的手机138.0013.8000", "我的手机138****8000"),
    ("卡号6225.8801.2345.6789谢谢", "卡号************6789谢谢"),
    ("身份证110105/19491231/002X", "身份证11***************X"),
    ("6225,8801,2345,6789", "************6789"),
    ("电话 139,0013,9000。", "电话 139****9000。"),
    ("138.0013.8000, 139.0013.9000", "138****8000, 139****9000"),
    ("身份证 110105.19491231.002x", "身份证 11***************X"),
    ("身份证110105/19491231/002X，139,0013,9000", "身份证11***************X，139****9000"),
])
def test_grouped_identifiers_are_masked(written, masked):
    assert redact(written) == masked
    assert redact_log_line(written) == masked


@pytest.mark.parametrize("text", [
    "退款47.19元，保费1,200.00元", "12,345,678元", "2026.11.25", "2026/11/25 10:30", "版本3.6.21",
    "127.0.0.1", "SBX1.0000.0000.0012", "保单SBX1000000000012", "案件TB20261125000001",
    "热线400.000.0000", "1,234,567,890,123,456",
])
def test_what_names_no_person_stays_readable(text):
    assert redact(text) == text


def test_nested_values_of_sensitive_entities_and_slots_are_masked_in_the_store():
    typed = '/inform{"id_number":[["11010519491231002X"]],"phone_number":{"p":"13800138000"}}'
    user = redact_event_data({"event": "user", "text": typed, "parse_data": {
        "text": typed, "entities": [
            {"entity": "id_number", "value": ["11010519491231002X"]},
            {"entity": "phone_number", "value": {"p": "13800138000"}},
            {"entity": "phone_number", "value": 13800138000}]}}, DEFAULT_SENSITIVE_SLOTS)
    slot = redact_event_data({"event": "slot", "name": "id_suffix",
                              "value": ["11010519491231002X"]}, DEFAULT_SENSITIVE_SLOTS)
    stored = str(user) + str(slot)
    for secret in ("11010519491231002X", "13800138000", "31002X"):
        assert secret not in stored
    assert slot["value"] == ["11***************X"]
    assert [e["value"] for e in user["parse_data"]["entities"]] == [
        ["11***************X"], {"p": "138****8000"}, "138****8000"]
    assert mask_value("sms_code", [{"c": "123456"}]) == [{"c": "******"}]
