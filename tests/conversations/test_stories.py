"""The dialogue model as Rasa's own tools check it: the data validates, and every test story in
this folder is predicted exactly (`rasa test core --fail-on-prediction-errors`).

Uses the project's model when it is current (``make test`` trains it first); otherwise trains a
dialogue-only model into a temp folder (about 40 s on 2 cores): NLU is not needed because test
stories give intents and entities.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "rasa")
STORIES = Path(__file__).resolve().parent


def rasa(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([RASA, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def core_model(tmp_path_factory) -> Path:
    from bot import model

    if model.is_current():  # the test command trains the full model first: use it
        return model.MODEL_PATH
    data = tmp_path_factory.mktemp("dialogue-data")
    for path in (ROOT / "stories").glob("*.yml"):
        shutil.copy(path, data / path.name)
    # utter_faq's answers (utter_faq/<topic>) live with the NLU data.
    shutil.copy(ROOT / "nlu" / "faq.yml", data / "faq.yml")
    out = tmp_path_factory.mktemp("dialogue-model")
    done = rasa("train", "core", "--config", "config.yml", "--domain", "domain.yml",
                "--stories", str(data), "--out", str(out), "--fixed-model-name", "core")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "core.tar.gz"


def test_training_data_validates():
    done = rasa("data", "validate", "--fail-on-warnings", "--config", "config.yml",
                "--domain", "domain.yml", "--data", "nlu", "stories")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "No story structure conflicts found" in output
    assert "is not part of the domain" not in output and "not a valid utterance" not in output


def test_every_test_story_is_predicted_exactly(core_model, tmp_path):
    assert len([s for f in STORIES.glob("*.yml") for s in f.read_text(encoding="utf-8").split("\n- story:")]) > 25
    done = rasa("test", "core", "--model", str(core_model), "--stories", str(STORIES),
                "--fail-on-prediction-errors", "--out", str(tmp_path))
    failed = (tmp_path / "failed_test_stories.yml")
    detail = failed.read_text(encoding="utf-8") if failed.exists() else done.stdout[-3000:]
    assert done.returncode == 0, detail[-4000:]
    assert "None of the test stories failed" in detail


def test_skipping_ted_behind_a_certain_policy_changes_no_prediction(core_model):
    """bot.lazy_ted (installed by ``python -m bot.serve``) skips TED when a policy of higher
    priority is already certain. Every prediction of every test story, and of a detour at each
    of their user turns -- the action and the policy that chose it -- is the same with and
    without it, and most TED runs are saved (the rule itself: test_lazy_ted.py)."""
    import asyncio

    from rasa.core.agent import Agent
    from rasa.core.test import _create_data_generator, _predict_tracker_actions
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot import lazy_ted

    lazy_ted.uninstall()
    agent = Agent.load(str(core_model))
    trackers = _create_data_generator(str(STORIES), agent).generate_story_trackers()
    assert len(trackers) > 25

    # Off the stories' paths too, where TED decides: at every user turn of every story, what
    # if the user had said something else (two other intents each time, in turn).
    intents = sorted(agent.domain.intents)
    detours = []
    for tracker in trackers:
        events = list(tracker.events)
        for at, event in enumerate(events):
            if isinstance(event, UserUttered) and event.intent_name:
                for step in (1, 2):
                    other = intents[(len(detours) * 7 + step) % len(intents)]
                    detours.append(events[:at] + [UserUttered(intent={"name": other, "confidence": 1.0})])

    async def predictions(agent):
        found = []
        for tracker in trackers:
            _, _, actions, _ = await _predict_tracker_actions(tracker, agent)
            found.append((tracker.sender_id, [(a["predicted"], a["policy"]) for a in actions]))
        for n, events in enumerate(detours):
            detour = DialogueStateTracker.from_events(f"detour-{n}", events, agent.domain.slots)
            predicted = agent.processor.predict_next_with_tracker(detour)
            found.append((detour.sender_id, [(predicted["scores"][0]["action"], predicted["policy"])]))
        return found

    before = asyncio.run(predictions(agent))
    lazy_ted.install()  # before the model is loaded: Rasa's graph binds the policies' methods
    try:
        counts_before = lazy_ted.counts()
        after = asyncio.run(predictions(Agent.load(str(core_model))))
        counts = {k: v - counts_before[k] for k, v in lazy_ted.counts().items()}
    finally:
        lazy_ted.uninstall()
    assert sum(len(steps) for _, steps in before) > 300
    changed = [(name, [(b, a) for b, a in zip(steps, steps_after) if a != b])
               for (name, steps), (_, steps_after) in zip(before, after) if steps != steps_after]
    assert after == before, changed
    # (what the real conversations save is measured by bench/load.py: docs/benchmarks.md)
    assert counts["skipped"] > 2 * counts["run"], counts
    print(f"TED predictions: {counts['run']} run, {counts['skipped']} skipped of {sum(len(steps) for _, steps in after)}")


def test_a_model_swapped_in_is_warmed_up_ted_included_and_nothing_is_stored(core_model):
    """bot.swap parses and predicts a few messages of several lengths in the loading thread, so
    the users' first turns on the new model do not pay for TensorFlow's traces (issue 22)."""
    import asyncio

    from rasa.core.agent import Agent

    from bot import lazy_ted, swap

    lazy_ted.install()
    try:
        agent = Agent.load(str(core_model))
        before = lazy_ted.counts()["run"]
        assert swap.warm_up(agent) == len(swap.WARM_UP_TEXTS)
        assert lazy_ted.counts()["run"] - before == len(swap.WARM_UP_TEXTS)  # TED each time
    finally:
        lazy_ted.uninstall()
    assert asyncio.run(agent.tracker_store.retrieve("tuibao-warm-up")) is None
