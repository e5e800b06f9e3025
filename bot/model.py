"""Train the Rasa model only when its inputs changed.

``rasa train`` always writes a new archive; the demo and the test command call this instead so a
second run on an unchanged tree starts at once. Every training writes a new versioned archive,
``models/<UTC time>-<fingerprint[:8]>.tar.gz`` (with its ``.fingerprint``), and never overwrites
one: ``models/tuibao.tar.gz`` is a symlink to the newest trained version (what tests, ``tuibao
eval`` and ``gate`` read), ``models/current.tar.gz`` the one the server runs (moved only by
``tuibao model promote`` / ``rollback``, or ``--deploy`` before a server starts).

The fingerprint covers everything that shapes the model: config, domain, training data, the
custom NLU components and dictionaries, the number formats of insurers.yml the identifier
extractor reads, and the Rasa version.

    python -m bot.model train [--force] [--deploy]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, List

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "models"
MODEL_NAME = "tuibao"
MODEL_PATH = MODEL_DIR / f"{MODEL_NAME}.tar.gz"
FINGERPRINT_PATH = MODEL_DIR / f"{MODEL_NAME}.fingerprint"
CURRENT = "current.tar.gz"  # the model the server runs (Procfile: --model models/current.tar.gz)
PREVIOUS = "previous.tar.gz"  # the one that ran before it (tuibao model rollback)
TRAINING_DATA = ["nlu", "stories"]
# insurers.yml holds the number formats the identifier extractor reads (ground/number_formats.py);
# extensions/: each insurer's domain and data, merged by training.importer (config.yml importers)
MODEL_INPUTS = ["config.yml", "domain.yml", *TRAINING_DATA, "bot/components", "bot/jieba_dict",
                "ground/identifiers.py", "ground/number_formats.py", "insurers.yml",
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


def version_name(trained_on: str, suffix: str = "") -> str:
    """A new archive name (without .tar.gz): UTC time to the millisecond, then the fingerprint."""
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1000):03d}"
    return f"{stamp}-{trained_on[:8]}{suffix}"


def point(link: Path, target: Path) -> None:
    """Make ``link`` a relative symlink to ``target`` in one step (rename over the old link).
    A regular file at ``link`` (a model trained before versioning) is kept as a version first."""
    link = Path(link)
    if link.exists() and not link.is_symlink():
        kept = adopt(link)
        print(f"bot.model: kept the old {link.name} as {kept.name}")
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(os.path.relpath(Path(target).resolve(), link.parent.resolve()), tmp)
    os.replace(tmp, link)


def adopt(archive: Path) -> Path:
    """Move a plain archive (``models/tuibao.tar.gz`` of an older tree) to a version name."""
    sidecar = archive.with_name(archive.name.replace(".tar.gz", ".fingerprint"))
    fp = sidecar.read_text().strip() if sidecar.is_file() else hashlib.sha256(
        archive.read_bytes()).hexdigest()
    stamp = time.strftime("%Y%m%d-%H%M%S000", time.gmtime(archive.stat().st_mtime))
    target = archive.with_name(f"{stamp}-{fp[:8]}.tar.gz")
    os.replace(archive, target)
    if sidecar.is_file() and not sidecar.is_symlink():
        target.with_name(target.name.replace(".tar.gz", ".fingerprint")).write_text(fp + "\n")
    return target


def record_version(model_dir: Path, name: str, trained_on: str, link: str = MODEL_NAME) -> Path:
    """After a training into ``model_dir/name.tar.gz``: its fingerprint, and the ``link``
    pointer (default tuibao.tar.gz) moved to it. The server's pointer is not touched."""
    archive = model_dir / f"{name}.tar.gz"
    (model_dir / f"{name}.fingerprint").write_text(trained_on + "\n")
    point(model_dir / f"{link}.tar.gz", archive)
    (model_dir / f"{link}.fingerprint").write_text(trained_on + "\n")
    if not (model_dir / CURRENT).exists():  # the first model: what a first server starts from
        point(model_dir / CURRENT, archive)
    return archive


def deploy_offline(model_dir: Path = MODEL_DIR) -> None:
    """Before a server starts (bin/demo): the newest trained model becomes the current one."""
    link = model_dir / f"{MODEL_NAME}.tar.gz"
    if link.exists() and not link.is_symlink():  # trained before versioning: keep it as a version
        point(link, adopt(link))
    latest = link.resolve()
    current = model_dir / CURRENT
    if current.exists() and current.resolve() == latest:
        return
    if current.exists():
        point(model_dir / PREVIOUS, current.resolve())
    point(current, latest)
    print(f"bot.model: {CURRENT} -> {latest.name}")


def train(force: bool = False, deploy: bool = False) -> int:
    if not force and is_current():
        print(f"bot.model: {MODEL_PATH.relative_to(ROOT)} is up to date; not training.")
        if deploy:
            deploy_offline()
        return 0
    print("bot.model: training data or config changed; training the model.")
    # What is trained is what the tree holds now: an edit made while training runs must leave
    # the model stale, not stamp it current.
    trained_on = fingerprint()
    name = version_name(trained_on)
    cmd = [str(Path(sys.executable).with_name("rasa")), "train", "--config", "config.yml",
           "--domain", "domain.yml", "--data", *TRAINING_DATA, "--out", str(MODEL_DIR),
           "--fixed-model-name", name]
    # TensorFlow pinned (oneDNN off, one thread per pool, deterministic ops, hash seed): the
    # same model on every machine of this kind (bot/determinism.py, docs/nlu.md).
    from bot.determinism import pinned_env

    env = pinned_env()
    # Rasa's training cache (.rasa/cache) off: a retrain that reused cached component outputs
    # gave another model than a fresh training of the same tree (6 December: two live tests
    # failed on it, a fresh training passed them). The model is a function of the tree only;
    # TUIBAO_TRAIN_CACHE=1 keeps Rasa's cache for a quick local iteration.
    if os.environ.get("TUIBAO_TRAIN_CACHE") != "1":
        env["RASA_MAX_CACHE_SIZE"] = "0"
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    if code == 0:
        archive = record_version(MODEL_DIR, name, trained_on)
        print(f"bot.model: trained {archive.relative_to(ROOT)}; models/{MODEL_NAME}.tar.gz points "
              f"to it (the server's models/{CURRENT} is unchanged: tuibao model promote)")
        if deploy:
            deploy_offline()
    return code


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.model")
    sub = parser.add_subparsers(dest="command", required=True)
    train_cmd = sub.add_parser("train", help="train the model if its inputs changed")
    train_cmd.add_argument("--force", action="store_true", help="train even if nothing changed")
    train_cmd.add_argument("--deploy", action="store_true", help="no server runs yet (bin/demo): "
                           "make the newest model the one the server starts from (models/current.tar.gz)")
    sub.add_parser("status", help="say whether the model is current")
    args = parser.parse_args(argv)
    if args.command == "train":
        return train(force=args.force, deploy=args.deploy)
    print("current" if is_current() else "stale or missing")
    return 0 if is_current() else 1


if __name__ == "__main__":
    sys.exit(main())
