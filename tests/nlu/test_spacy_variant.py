"""The spaCy variant (configs/spacy.yml) is the current pipeline with spaCy's Chinese
tokenisation in place of Rasa's JiebaTokenizer, and its spaCy pipeline is built locally."""
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]


def _config(name):
    return YAML(typ="safe").load((ROOT / name).read_text(encoding="utf-8"))


def test_variant_differs_from_the_default_only_in_tokenisation():
    default, variant = _config("config.yml"), _config("configs/spacy.yml")
    names = [c["name"] for c in variant["pipeline"]]
    assert names[:2] == ["SpacyNLP", "SpacyTokenizer"]
    assert variant["pipeline"][2:] == default["pipeline"][1:]  # same featurizers, classifiers, thresholds
    assert variant["policies"] == default["policies"] and variant["language"] == "zh"


def test_blank_chinese_pipeline_is_saved_and_loads_by_path(tmp_path):
    import spacy

    from bot.spacy_zh import build

    path = build(tmp_path / "spacy_zh_jieba")
    nlp = spacy.load(str(path))
    assert nlp.lang == "zh" and nlp.pipe_names == [] and nlp.path is not None
    assert nlp.config["nlp"]["tokenizer"]["segmenter"] == "jieba"
    tokens = [t.text for t in nlp("我想退保，保单号SBX1000000000012")]
    assert "退保" in tokens and "SBX1000000000012" in tokens
    info = spacy.info(str(path))
    assert spacy.util.is_compatible_version(spacy.about.__version__, info["spacy_version"])


def test_no_spacy_model_package_is_installed():
    from importlib import metadata

    names = {(d.metadata["Name"] or "").lower() for d in metadata.distributions()}
    assert not {n for n in names if n.startswith(("zh-core", "zh_core", "en-core", "en_core"))}
