"""IdentifierExtractor as Rasa runs it: through the registered graph component, and through
the whole trained pipeline (tokenizer, placeholders, featurizers, DIET, the extractor) of
models/tuibao.tar.gz, which must exist (``python -m bot.model train``)."""
import asyncio
import os
from pathlib import Path

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.components.identifiers import IdentifierExtractor


def run(text, existing=None):
    extractor = IdentifierExtractor.create(IdentifierExtractor.get_default_config(), None, None, None)
    message = Message(data={"text": text, "entities": list(existing or [])})
    (message,) = extractor.process([message])
    return message.get("entities")


def test_registered_under_its_config_name():
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe

    registered = DefaultV1Recipe._from_registry("bot.components.identifiers.IdentifierExtractor")
    assert registered.clazz is IdentifierExtractor
    assert DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR in registered.types
    assert not registered.is_trainable


def test_entities_carry_normalised_value_span_and_validity():
    text = "保单号 ｓｂｘ１０００ ００００ ０００１ ３，身份证后六位31002x"
    entities = run(text)
    policy = next(e for e in entities if e["entity"] == "policy_number")
    assert policy["value"] == "SBX1000000000013" and policy["valid"] is False
    assert text[policy["start"]:policy["end"]].startswith("ｓｂｘ")
    id_number = next(e for e in entities if e["entity"] == "id_number")
    assert id_number["value"] == "31002X" and id_number["valid"] is True
    assert all(e["extractor"] == "IdentifierExtractor" for e in entities)


def test_bare_six_digits_give_both_readings_for_the_form_to_choose():
    entities = run("604218")
    assert sorted(e["entity"] for e in entities) == ["id_number", "sms_code"]
    assert all(e["ambiguous"] for e in entities)


def test_identifier_entities_from_other_extractors_are_dropped():
    other = [{"entity": "sms_code", "value": "验证码604218", "start": 0, "end": 9, "extractor": "DIETClassifier"},
             {"entity": "reason", "value": "买错了", "start": 10, "end": 13, "extractor": "DIETClassifier"}]
    entities = run("验证码604218，买错了", other)
    assert {(e["entity"], e["value"]) for e in entities} == {("sms_code", "604218"), ("reason", "买错了")}


def test_placeholders_hide_identifier_characters_from_the_featurizers():
    from rasa.nlu.constants import TOKENS_NAMES
    from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer

    from bot.components.identifiers import IdentifierPlaceholders

    tokenizer = JiebaTokenizer.create({**JiebaTokenizer.get_default_config()}, None, None, None)
    message = Message(data={"text": "把SBX1000000000089退了，验证码604218"})
    tokenizer.process([message])
    IdentifierPlaceholders.create({}, None, None, None).process([message])
    lemmas = [t.lemma for t in message.get(TOKENS_NAMES["text"])]
    assert "POLICYNUMBER" in lemmas and "SMSCODE" in lemmas
    assert not any("1000000000089" in lemma or "604218" in lemma for lemma in lemmas)
    assert "退" in "".join(lemmas)
    assert message.get("text") == "把SBX1000000000089退了，验证码604218"


def test_the_whole_trained_pipeline_gives_normalised_identifiers():
    from bot.evaluate import TRAIN_HINT, _parse_all, resolve_model

    root = Path(__file__).resolve().parents[2]
    model = resolve_model(Path(os.environ.get("TUIBAO_NLU_MODEL", root / "models" / "tuibao.tar.gz")))
    if model is None:
        pytest.fail(f"No trained model to parse with. {TRAIN_HINT}")
    opening, code = asyncio.run(_parse_all(model, [
        "我要退保，保单号 ｓｂｘ１０００ ００００ ０００１ ２，身份证后六位31002x",
        "验证码是六零四二一八",
    ]))
    found = {(e["entity"], e["value"]) for e in opening["entities"]}
    assert {("policy_number", "SBX1000000000012"), ("id_number", "31002X")} <= found, opening["entities"]
    assert ("sms_code", "604218") in {(e["entity"], e["value"]) for e in code["entities"]}, code["entities"]
    # Identifiers come from the rule extractor only, never from DIET's guesses.
    assert {e["extractor"] for e in opening["entities"] + code["entities"]} <= {"IdentifierExtractor",
                                                                                "EntitySynonymMapper"}
