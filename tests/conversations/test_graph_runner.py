"""bot.graph_runner (issue 23): Rasa's graph run in an order computed once gives what dask gives,
on the project's model: every parse of every held-out user text, and every prediction of every
test story, with the same scores and the same policy; and so does bot.rule_lookup's memo of the
rules matching a state."""
from __future__ import annotations

from pathlib import Path

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphSchema, SchemaNode
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.loading import load_data

from bot import graph_runner, rule_lookup
from bot.graph_runner import SequentialGraphRunner, execution_order

ROOT = Path(__file__).resolve().parents[2]
STORIES = Path(__file__).resolve().parent


def _schema(**needs) -> GraphSchema:
    return GraphSchema({name: SchemaNode(needs=wanted, uses=object, constructor_name="create",
                                         fn="run", config={})
                        for name, wanted in needs.items()})


def test_every_node_runs_once_after_all_it_needs():
    schema = _schema(domain={}, featurize={"domain": "domain", "tracker": "__tracker__"},
                     rules={"domain": "domain", "features": "featurize"},
                     ted={"domain": "domain", "features": "featurize"},
                     select={"a": "rules", "b": "ted", "domain": "domain"}, unused={})
    order = execution_order(schema, ["select"])
    assert sorted(order) == ["domain", "featurize", "rules", "select", "ted"]  # no "unused"
    for name in order:
        for needed in schema.nodes[name].needs.values():
            assert needed == "__tracker__" or order.index(needed) < order.index(name)


def test_a_cycle_is_refused_not_looped():
    with pytest.raises(GraphRunError, match="cycle"):
        execution_order(_schema(a={"x": "b"}, b={"y": "a"}), ["a"])


@pytest.fixture(scope="module")
def agents():
    """The project's model run by Rasa's runner, and the same nodes by ours (as bot.serve has
    every model loaded with it: test_a_model_loads_with_our_runner_when_installed)."""
    import copy

    from rasa.core.agent import Agent

    from bot import model

    if not model.MODEL_PATH.exists():
        pytest.fail("No trained model at models/tuibao.tar.gz: run .venv/bin/python -m bot.model train")
    graph_runner.uninstall()
    dask_agent = Agent.load(str(model.MODEL_PATH))
    assert not isinstance(dask_agent.processor.graph_runner, SequentialGraphRunner)
    ours = copy.copy(dask_agent)
    ours.processor = copy.copy(dask_agent.processor)
    ours.processor.graph_runner = SequentialGraphRunner.from_runner(dask_agent.processor.graph_runner)
    return dask_agent, ours


def test_a_model_loads_with_our_runner_when_installed(monkeypatch, tmp_path):
    from rasa.core import processor

    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"")
    seen = []
    monkeypatch.setattr(processor.loader, "load_predict_graph_runner",
                        lambda *args: seen.append(args[3]) or (None, None))
    graph_runner.install()
    try:
        processor.MessageProcessor._load_model(archive)
    finally:
        graph_runner.uninstall()
    processor.MessageProcessor._load_model(archive)
    assert seen == [SequentialGraphRunner, DaskGraphRunner]


def test_every_held_out_text_parses_as_with_dask(agents):
    dask_agent, ours = agents
    texts = [m.get("text") for m in load_data(str(ROOT / "tests/heldout/real_users.yml"))
             .training_examples]
    texts += ["SBX1000000000012 退了能拿回多少", "身份证后六位31002X", "/affirm", "😡😡😡", ""]
    assert len(texts) > 150
    for text in texts:
        parses = [agent.processor._parse_message_with_graph(
            UserMessage(text, sender_id="graph-runner"),
            DialogueStateTracker.from_events("graph-runner", [])) for agent in agents]
        assert parses[0] == parses[1], text


def test_every_test_story_is_predicted_as_with_dask(agents):
    from rasa.core.test import _create_data_generator

    dask_agent, ours = agents
    trackers = _create_data_generator(str(STORIES), dask_agent).generate_story_trackers()
    assert len(trackers) > 25

    from rasa.shared.core.events import ActionExecuted

    def predictions(agent):
        found = []
        for tracker in trackers:
            prefix = DialogueStateTracker.from_events(tracker.sender_id, [], agent.domain.slots)
            for event in tracker.events:  # where Rasa predicts: before each action of the story
                if isinstance(event, ActionExecuted):
                    found.append(agent.processor.predict_next_with_tracker(prefix))
                prefix.update(event)
        return found

    before, after = predictions(dask_agent), predictions(ours)
    assert len(before) > 300
    assert after == before

    # bot.rule_lookup on top (as bot.serve runs): the first pass fills it, the second is
    # answered from it; both predict exactly as Rasa's scan of every rule
    rule_lookup.install()
    try:
        filled, answered = predictions(ours), predictions(ours)
        counts = (rule_lookup.hits, rule_lookup.misses)
    finally:
        rule_lookup.uninstall()
    assert filled == before and answered == before
    assert counts[0] > 3 * counts[1], counts


def test_an_error_in_a_node_reaches_the_caller_as_with_dask(agents):
    from rasa.engine.exceptions import GraphComponentException

    for agent in agents:
        runner = agent.processor.graph_runner
        with pytest.raises(GraphComponentException):  # a tracker that is not one
            runner.run(inputs={"__tracker__": "not a tracker"},
                       targets=[agent.processor.model_metadata.core_target])
