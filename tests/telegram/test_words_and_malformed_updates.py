"""Issue 19, point 3, over Telegram: a tapped inline button runs its payload and the tracker
(so the agent's transcript) records the button's words. Issue 18, hole 13: what no Telegram
server sends is refused cleanly, never a 500 or a failure in the background: a secret header
of non-ASCII bytes (401/403), a JSON body nested 50,000 deep (400, on every webhook: Telegram
and REST), chat ids no Telegram chat has (400)."""
from __future__ import annotations

import json
import time

import pytest
import requests

from console.transcript import tracker_turns
from tests.support.shared_stacks import CHANNELS_RASA_LOG
from harness.telegram_caller import SECRET_HEADER, message, new_chat_id, text_update

LOG = CHANNELS_RASA_LOG
DEPTH = 50_000


def _log() -> str:
    return LOG.read_text(encoding="utf-8", errors="replace")


def test_a_tapped_button_is_recorded_in_its_words(stack, telegram, chat):
    offer = telegram.start(chat).keyboard_message
    assert offer is not None
    asked = telegram.tap(chat, offer, "我要退保")
    assert "保单号" in asked.text, asked.text
    last = stack.user_turns(f"telegram:{chat}")[-1]
    assert last["text"] == "我要退保", last
    assert last["parse_data"]["intent"]["name"] == "request_surrender"
    user_said = [t["text"] for t in tracker_turns(stack.tracker(f"telegram:{chat}"))
                 if t["who"] == "user"]
    assert all(not any(c in text for c in '/{"') for text in user_said[1:]), user_said


@pytest.mark.parametrize("secret", ["秘密".encode("utf-8"), "tuibao-demo-telegram-secrét".encode(
    "latin-1"), b"\xff\xfe\x00"[:2]])
def test_a_non_ascii_secret_header_is_refused_not_a_server_error(stack, telegram, chat, secret):
    before = _log().count("Traceback")
    answer = requests.post(stack.telegram_webhook_url, timeout=10,
                           data=json.dumps(text_update(chat, "我要退保")).encode(),
                           headers={"Content-Type": "application/json", SECRET_HEADER: secret})
    assert answer.status_code in (401, 403), (answer.status_code, answer.text)
    assert "Traceback" not in answer.text
    time.sleep(0.5)
    assert _log().count("Traceback") == before
    assert stack.user_turns(f"telegram:{chat}") == []


def _deep(prefix: str, suffix: str) -> bytes:
    """50,000 levels inside an otherwise proper envelope (100 kB: under the size limits)."""
    return (prefix + "[" * DEPTH + "]" * DEPTH + suffix).encode()


@pytest.mark.parametrize("webhook", ["telegram", "rest"])
@pytest.mark.parametrize("shape", ["array", "inside_an_update"])
def test_a_json_body_nested_50000_deep_is_a_400_on_every_webhook(stack, telegram, webhook, shape):
    body = ("[" * DEPTH + "]" * DEPTH).encode() if shape == "array" else \
        _deep('{"update_id": 77, "sender": "deep", "message": ', "}")
    before = _log().count("Traceback")
    if webhook == "telegram":
        answer = telegram.post(None, raw=body)
    else:
        answer = requests.post(stack.rest_url, data=body, timeout=30,
                               headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, (answer.status_code, answer.text[:200])
    time.sleep(0.5)
    assert _log().count("Traceback") == before


@pytest.mark.parametrize("odd", ["abc", 12.5, 2 ** 60, True, "6123456789", -(2 ** 53)])
def test_odd_chat_ids_are_refused_at_the_door(stack, telegram, odd):
    update = text_update(new_chat_id(), "我要退保")
    update["message"]["chat"]["id"] = odd
    update["message"]["from"]["id"] = odd if not isinstance(odd, str) else 1
    before = _log()
    answer = telegram.post(update)
    assert answer.status_code == 400, (odd, answer.status_code, answer.text)
    time.sleep(1.0)
    after = _log()[len(before):]
    assert "Traceback" not in after and "failed" not in after, after


def test_an_odd_chat_id_in_a_tap_is_refused_too(stack, telegram):
    sent = message(new_chat_id(), text="确认要退保吗？")
    update = {"update_id": 4242_0000 + new_chat_id() % 10_000, "callback_query": {
        "id": "1", "from": {"id": 5, "is_bot": False, "first_name": "x"}, "chat_instance": "1",
        "data": "确认", "message": {**sent, "chat": {"id": "abc", "type": "private"},
                                    "from": {"id": 1, "is_bot": True, "first_name": "b"}}}}
    before = _log()
    answer = telegram.post(update)
    assert answer.status_code in (200, 400), answer.text
    time.sleep(1.0)
    after = _log()[len(before):]
    assert "Traceback" not in after and "failed" not in after, after
