"""Train the Rasa model only when its inputs changed.

``rasa train`` always writes a new archive; the demo and the test command call this instead so a
second run on an unchanged tree starts at once. The fingerprint covers everything that shapes the
model: config, domain, training data, the custom NLU components and dictionaries, the number
formats of insurers.yml the identifier extractor reads, and the Rasa version.

    python -m bot.model train [--force]
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Iterable, List

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "models"
MODEL_NAME = "tuibao"
MODEL_PATH = MODEL_DIR / f"{MODEL_NAME}.tar.gz"
FINGERPRINT_PATH = MODEL_DIR / f"{MODEL_NAME}.fingerprint"
TRAINING_DATA = ["nlu", "stories"]
# insurers.yml holds the number formats the identifier extractor reads (insurers/formats.py);
# extensions/: each insurer's domain and data, merged by training.importer (config.yml importers)
MODEL_INPUTS = ["config.yml", "domain.yml", *TRAINING_DATA, "bot/components", "bot/jieba_dict",
                "bot/identifiers.py", "insurers/formats.py", "insurers.yml",
                "extensions/*/domain", "extensions/*/data",
                "training/importer.py", "training/extensions.py"]


def _files(paths: Iterable[str], root: Path = ROOT) -> List[Path]:
    found: List[Path] = []
    for rel in paths:
        for path in sorted(root.glob(rel)):  # a plain path, or a pattern (extensions/*/data)
            if path.is_file():
                found.append(path)
            elif path.is_dir():
                found.extend(p for p in sorted(path.rglob("*"))
                             if p.is_file() and "__pycache__" not in p.parts)
    return found


def fingerprint(root: Path = ROOT) -> str:
    """The hash of everything that shapes the model of the project at ``root``."""
    import rasa  # the version is part of what shapes the model

    digest = hashlib.sha256(f"rasa={rasa.__version__}\n".encode())
    for path in _files(MODEL_INPUTS, root):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def is_current() -> bool:
    return (MODEL_PATH.exists() and FINGERPRINT_PATH.exists()
            and FINGERPRINT_PATH.read_text().strip() == fingerprint())


def train(force: bool = False) -> int:
    if not force and is_current():
        print(f"bot.model: {MODEL_PATH.relative_to(ROOT)} is up to date; not training.")
        return 0
    print("bot.model: training data or config changed; training the model.")
    # What is trained is what the tree holds now: an edit made while training runs must leave
    # the model stale, not stamp it current.
    trained_on = fingerprint()
    cmd = [str(Path(sys.executable).with_name("rasa")), "train", "--config", "config.yml",
           "--domain", "domain.yml", "--data", *TRAINING_DATA, "--out", str(MODEL_DIR),
           "--fixed-model-name", MODEL_NAME]
    # TensorFlow pinned (oneDNN off, one thread per pool, deterministic ops, hash seed): the
    # same model on every machine of this kind (bot/determinism.py, docs/nlu.md).
    from bot.determinism import pinned_env

    code = subprocess.call(cmd, cwd=ROOT, env=pinned_env())
    if code == 0:
        FINGERPRINT_PATH.write_text(trained_on + "\n")
    return code


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.model")
    sub = parser.add_subparsers(dest="command", required=True)
    train_cmd = sub.add_parser("train", help="train the model if its inputs changed")
    train_cmd.add_argument("--force", action="store_true", help="train even if nothing changed")
    sub.add_parser("status", help="say whether the model is current")
    args = parser.parse_args(argv)
    if args.command == "train":
        return train(force=args.force)
    print("current" if is_current() else "stale or missing")
    return 0 if is_current() else 1


if __name__ == "__main__":
    sys.exit(main())
