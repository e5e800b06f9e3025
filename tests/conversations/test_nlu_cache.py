"""bot.nlu_cache (issue 23) on the project's model: a kept parse is the parse the pipeline gives,
whoever changes a copy, and nothing with a digit in it (policy numbers, ID digits, phones, SMS
codes, amounts) is ever kept."""
from __future__ import annotations

from pathlib import Path

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.loading import load_data

from bot import nlu_cache

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def processor():
    from rasa.core.agent import Agent

    from bot import model

    if not model.MODEL_PATH.exists():
        pytest.fail("No trained model at models/tuibao.tar.gz: run .venv/bin/python -m bot.model train")
    agent = Agent.load(str(model.MODEL_PATH))
    nlu_cache.install()
    try:
        yield agent.processor
    finally:
        nlu_cache.uninstall()


@pytest.fixture(autouse=True)
def empty_cache():
    nlu_cache.clear()
    yield
    nlu_cache.clear()


def _parse(processor, text: str):
    tracker = DialogueStateTracker.from_events("nlu-cache", [])
    return processor._parse_message_with_graph(UserMessage(text, sender_id="nlu-cache"), tracker)


def _uncached(processor, text: str):
    tracker = DialogueStateTracker.from_events("nlu-cache", [])
    return nlu_cache._original(processor, UserMessage(text, sender_id="nlu-cache"), tracker)


def test_a_kept_parse_is_the_parse_for_every_real_user_text(processor):
    texts = [m.get("text") for m in load_data(str(ROOT / "tests/heldout/real_users.yml"))
             .training_examples]
    texts += ["你好", "我要退保", "确认", "好的", "取消", "/affirm", "/deny", "转人工",
              "恒信那张也退了吧", "算了不退了"]
    keepable = [t for t in dict.fromkeys(texts) if nlu_cache.keepable(t)]
    assert len(keepable) > 150  # most of what users type has no digit in it
    for text in keepable:
        first, again = _parse(processor, text), _parse(processor, text)
        assert first == again == _uncached(processor, text), text
    assert nlu_cache.hits == len(keepable) and nlu_cache.misses == len(keepable)


def test_a_caller_changing_its_parse_changes_no_later_answer(processor):
    first = _parse(processor, "我要退保")
    intent = first["intent"]["name"]
    first["intent"]["name"] = "changed"
    first["entities"].append({"entity": "policy_number", "value": "x"})
    again = _parse(processor, "我要退保")
    assert again["intent"]["name"] == intent == "request_surrender"
    assert again["entities"] == []


@pytest.mark.parametrize("text", [
    "P2026000000000001", "我的保单号是 HX20260001234", "身份证后四位 123X", "验证码 482913",
    "138.0013.8000", "１２３４５６", "手机一三八零零一三八零零零", "退47.19元对吗", "/inform{\"id\": 1}",
    "我想退保" * 11,  # longer than anyone's "我要退保": not kept either
])
def test_nothing_with_a_digit_or_a_long_text_is_kept(processor, text):
    assert not nlu_cache.keepable(text)
    _parse(processor, text)
    _parse(processor, text)
    assert nlu_cache.hits == 0 and nlu_cache.misses == 0 and not nlu_cache._parses


def test_a_parse_is_kept_per_model(processor):
    _parse(processor, "你好")
    model_id = processor.model_metadata.model_id
    processor.model_metadata.model_id = "another-model"
    try:
        _parse(processor, "你好")
    finally:
        processor.model_metadata.model_id = model_id
    assert nlu_cache.misses == 2 and nlu_cache.hits == 0


def _uncached_parse(processor, text: str):
    """The parse with both layers out of the way (Rasa's own pipeline end to end)."""
    nlu_cache.uninstall()
    try:
        return _parse(processor, text)
    finally:
        nlu_cache.install()


@pytest.mark.parametrize("first, then", [
    ("SBX1000000000012", "SBX1000000000089"),           # a bare policy number, as the form asks
    ("31002X", "52017X"),                                 # an ID suffix
    ("482913", "730215"),                                 # a bare SMS code (or ID digits)
    ("保单号 SBX1000000000012 退了能拿回多少", "保单号 SBX1000000000089 退了能拿回多少"),
])
def test_another_identifier_in_the_same_words_is_classified_from_the_kept_scores(processor, first, then):
    _parse(processor, first)
    hits = nlu_cache.classifier_hits
    parse = _parse(processor, then)
    assert nlu_cache.classifier_hits == hits + 2  # DIET and the ResponseSelector, not run again
    assert parse == _uncached_parse(processor, then)
    # its entities are its own: the values come from this message, never from the kept one
    values = {e["value"] for e in parse["entities"]}
    assert not values & {e["value"] for e in _uncached_parse(processor, first)["entities"]}


@pytest.mark.parametrize("text", ["我要退3份", "退47.19元对吗", "身份证后四位 123X", "第二张也退了吧"])
def test_a_digit_the_identifiers_left_in_the_words_keeps_nothing(processor, text):
    _parse(processor, text)
    _parse(processor, text)
    assert nlu_cache.classifier_hits == 0 and nlu_cache.classifier_misses == 0


def test_every_held_out_text_with_a_digit_parses_as_without_the_caches(processor):
    texts = [m.get("text") for m in load_data(str(ROOT / "tests/heldout/real_users.yml"))
             .training_examples]
    numeric = [t for t in dict.fromkeys(texts) if not nlu_cache.keepable(t)]
    assert len(numeric) > 20
    cached = [_parse(processor, text) for text in numeric]
    kept_first = nlu_cache.classifier_hits + nlu_cache.classifier_misses
    assert kept_first >= 40  # those whose digits were all identifiers (placeholders)
    cached += [_parse(processor, text) for text in numeric]
    assert nlu_cache.classifier_hits - (kept_first - nlu_cache.classifier_misses) == kept_first
    nlu_cache.uninstall()
    try:
        plain = [_parse(processor, text) for text in numeric + numeric]
    finally:
        nlu_cache.install()
    for text, a, b in zip(numeric + numeric, cached, plain):
        assert a == b, text
