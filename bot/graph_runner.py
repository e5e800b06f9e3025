"""Rasa's prediction graph run in a plain loop instead of through dask (issue 23).

Rasa 3.6 runs its graph twice or more a message (parse, then one prediction per action) with
``DaskGraphRunner.run``, and on every run it:

- rebuilds the minimal schema for the targets (``GraphSchema._all_dependencies_schema``
  recurses through every path without remembering a node it has seen, and tests membership in a
  list),
- builds a dask graph of it and hands it to ``dask.get``, whose synchronous scheduler orders
  the tasks and keeps its own bookkeeping of every key.

For a graph that is the same every time, the order is known once. ``SequentialGraphRunner``
keeps, per target list, the nodes in dependency order, and calls each ``GraphNode`` with the
outputs of the nodes it needs: the same calls, with the same arguments, that dask makes (a
needed name that nothing provides is passed as the name itself, as dask passes it, and
``GraphNode`` warns about it). A ``RuntimeError`` becomes Rasa's ``GraphRunError`` as before;
any other exception passes through as ``dask.get`` passes it.

Training keeps Rasa's runner (``rasa.model_training``); only the server's
``MessageProcessor`` loads models with this one. ``python -m bot.serve`` installs it;
``TUIBAO_GRAPH_RUNNER=dask`` keeps Rasa's.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphSchema
from rasa.engine.runner.dask import DaskGraphRunner

from bot.patching import Patch

logger = logging.getLogger(__name__)

ENV = "TUIBAO_GRAPH_RUNNER"


def execution_order(schema: GraphSchema, targets: List[Text]) -> List[Text]:
    """The nodes the targets need, each after every node it needs (depth first, each once)."""
    order: List[Text] = []
    done: set = set()
    visiting: set = set()

    def visit(name: Text) -> None:
        if name in done or name not in schema.nodes:  # an input placeholder is not a node
            return
        if name in visiting:
            raise GraphRunError(f"The graph has a cycle through node '{name}'.")
        visiting.add(name)
        for needed in schema.nodes[name].needs.values():
            visit(needed)
        visiting.discard(name)
        done.add(name)
        order.append(name)

    for target in targets:
        visit(target)
    return order


class SequentialGraphRunner(DaskGraphRunner):
    """``DaskGraphRunner``'s nodes and results, run in an order computed once per target list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._orders: Dict[Tuple[Text, ...], List[Tuple[Text, Any, Tuple[Text, ...]]]] = {}

    @classmethod
    def from_runner(cls, runner: DaskGraphRunner) -> "SequentialGraphRunner":
        """This runner over another runner's nodes (loaded once; for comparing both)."""
        ours = cls.__new__(cls)
        ours._graph_schema = runner._graph_schema
        ours._instantiated_nodes = runner._instantiated_nodes
        ours._execution_context = runner._execution_context
        ours._orders = {}
        return ours

    def _plan(self, targets: List[Text]) -> List[Tuple[Text, Any, Tuple[Text, ...]]]:
        key = tuple(targets)
        plan = self._orders.get(key)
        if plan is None:
            nodes = self._graph_schema.nodes
            plan = [(name, self._instantiated_nodes[name], tuple(nodes[name].needs.values()))
                    for name in execution_order(self._graph_schema, targets)]
            self._orders[key] = plan
        return plan

    def run(self, inputs: Optional[Dict[Text, Any]] = None,
            targets: Optional[List[Text]] = None) -> Dict[Text, Any]:
        run_targets = targets if targets else self._graph_schema.target_names
        plan = self._plan(run_targets)
        results: Dict[Text, Any] = {}
        if inputs:
            for name, value in inputs.items():
                if isinstance(value, str) and any(value == node for node, _, _ in plan):
                    raise GraphRunError(
                        f"Input value '{value}' clashes with a node name. Make sure "
                        f"that none of the input names passed to the `run` method are the "
                        f"same as node names in the graph schema.")
                results[name] = (name, value)
        try:
            for name, node, needs in plan:
                results[name] = node(*(results.get(needed, needed) for needed in needs))
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e
        return dict(results[target] for target in run_targets)


_patch = Patch("rasa.core.processor", "DaskGraphRunner", SequentialGraphRunner)


def wanted() -> bool:
    return os.environ.get(ENV, "sequential") != "dask"


def install() -> None:
    """The server's ``MessageProcessor`` loads every model (at start and at a swap) with it."""
    _patch.install()


def uninstall() -> None:
    _patch.uninstall()
