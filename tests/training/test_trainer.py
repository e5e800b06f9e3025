"""`tuibao train`'s estimate before and progress during a training, from Rasa's own output."""
from __future__ import annotations

import json

from training import trainer


def test_progress_is_a_line_per_component_and_per_tenth_of_its_epochs():
    said = []
    progress = trainer.Progress(0.0, said.append)
    progress.feed("2026-12-04 15:29:14 INFO     rasa.engine.training.hooks  - Starting to train "
                  "component 'DIETClassifier'.")
    for epoch in range(0, 61):
        progress.feed(f"Epochs:  {epoch * 100 // 60}%|█         | {epoch}/60 [00:02<02:44, "
                      "2.79s/it, t_loss=10.1, i_acc=0.474]")
    progress.feed("Starting to train component 'ResponseSelector'.")
    assert said[0].endswith("training DIETClassifier")
    epochs = [s for s in said if "DIETClassifier: epoch" in s]
    assert [s.rsplit(" ", 1)[1] for s in epochs] == [f"{n}/60" for n in (1, 6, 12, 18, 24, 30, 36, 42, 48, 54, 60)]
    assert said[-1].endswith("training ResponseSelector")
    assert len(progress.tail) <= 60


def test_the_estimate_comes_from_the_last_training_of_that_kind(tmp_path):
    first = trainer.estimate(tmp_path, "nlu", 2500)
    assert first.startswith("estimate: about") and "no nlu training measured here yet" in first
    trainer.record(tmp_path, "nlu", 2000, 100.0)
    line = trainer.estimate(tmp_path, "nlu", 3000)
    assert "the last nlu training here took 100 s for 2000 examples; now 3000" in line
    assert json.loads((tmp_path / "timings.json").read_text())["nlu"][-1]["seconds"] == 100.0
