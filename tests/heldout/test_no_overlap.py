"""Held-out data stays held out: no held-out sentence is in the training data, however
its width, spacing, punctuation or case differ (issue 12: a third of heldout.yml had leaked)."""
from __future__ import annotations

from pathlib import Path

from tests.heldout.overlap import heldout_files, normalise, overlaps, texts_in, training_files


def test_normalising_ignores_width_case_spaces_and_punctuation():
    assert normalise("妥了，交吧！") == normalise("妥了 交吧") == "妥了交吧"
    assert normalise("ＳＢＸ１０００ ok👌") == normalise("sbx1000OK")
    assert normalise("不退了") != normalise("不退")


def test_the_check_reads_every_training_and_heldout_file():
    names = {p.name for p in heldout_files()}
    assert {"heldout.yml", "real_users.yml"} <= names
    trained = [p.as_posix() for p in training_files()]
    assert any("/nlu/" in p for p in trained) and any("/stories/" in p for p in trained)
    assert sum(1 for p in heldout_files() for _ in texts_in(p)) > 450


def test_no_heldout_sentence_is_in_the_training_data():
    found = overlaps()
    listing = "\n".join(f"{h}: {t!r} also in {w}" for h, t, w in found)
    assert not found, f"{len(found)} held-out sentences are in the training data:\n{listing}"


def test_a_leaked_line_is_caught(tmp_path):
    """The check itself fails when a held-out line is copied into an extension's data."""
    from tests.heldout import overlap

    line = next(texts_in(overlap.HELDOUT_DIR / "real_users.yml"))
    extension = tmp_path / "extensions" / "some_insurer"
    extension.mkdir(parents=True)
    (extension / "nlu.yml").write_text(
        f'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - {line.upper()}。\n',
        encoding="utf-8")
    found = overlap.overlaps(tmp_path)
    assert (("real_users.yml", line, str(Path("extensions/some_insurer/nlu.yml"))) in found)
