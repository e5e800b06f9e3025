"""A blank spaCy Chinese pipeline (jieba segmenter) saved to disk for Rasa's SpacyNLP.

Rasa's ``SpacyNLP`` calls ``spacy.load(model)``, which takes a package name or a folder. No
Chinese model package is used (none may be downloaded here, and look-alikes must never be
installed): this writes ``spacy.blank("zh")`` with the jieba segmenter to a folder instead. It
has no vectors and no trained components, only spaCy's Chinese tokenisation.

    python -m bot.spacy_zh [PATH]     # default models/spacy_zh_jieba

pkuseg (spaCy's other Chinese segmenter) needs model weights fetched at run time, which this
machine cannot do; jieba ships its dictionary inside the package.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATH = ROOT / "models" / "spacy_zh_jieba"
SEGMENTER = "jieba"


def build(path: Path = DEFAULT_PATH) -> Path:
    """Saves the blank zh pipeline to ``path`` (again, if it is there) and returns the path."""
    import spacy

    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": SEGMENTER}}})
    path.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(path)
    return path


def ensure(config_path: Path) -> None:
    """Builds the pipeline a Rasa config's SpacyNLP names, if it names a folder that is missing."""
    from ruamel.yaml import YAML

    config = YAML(typ="safe").load(config_path.read_text(encoding="utf-8")) or {}
    for component in config.get("pipeline") or []:
        if component.get("name") == "SpacyNLP" and component.get("model"):
            folder = ROOT / component["model"]
            if component["model"].startswith("models/") and not (folder / "meta.json").exists():
                build(folder)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH))
