"""Tuibao's Rasa server entrypoint: ``rasa run`` with what a busy server needs (issue 23).

    python -m bot.serve run --enable-api ...      # the same arguments as ``rasa run``

Before handing over to Rasa's own command line it

- makes Rasa validate the action server's answers against a compiled JSON schema: Rasa 3.6
  (``RemoteAction._validate_action_result``) calls ``jsonschema.validate`` on every custom
  action call, which first re-checks the schema itself against the JSON-Schema metaschema; under
  load that was 40 % of the Rasa process's busy time (docs/benchmarks.md). The answer is
  checked against the same schema, with the same ``ValidationError`` (and Rasa's message) for
  a bad one;
- makes a failing tracker store fail the turn (the user is told so) instead of letting Rasa
  continue the conversation from an empty in-memory tracker;
- keeps what the NLU made of short messages without digits (你好, 我要退保, 确认), per model,
  so the same words are not parsed again (``bot/nlu_cache.py``; ``TUIBAO_NLU_CACHE=0`` turns
  it off);
- answers ``action_validate_slot_mappings`` itself, by the guard's one rule, instead of a
  round trip to the action server (``bot/slot_validation.py``;
  ``TUIBAO_SKIP_EMPTY_SLOT_VALIDATION=0`` calls it always);
- sends the domain only to the action calls that read it, the forms' validation
  (``bot/action_domain.py``; ``TUIBAO_SELECTIVE_DOMAIN=0`` sends it always);
- skips TEDPolicy's network when a policy of higher priority is already certain, which changes
  no prediction (``bot/lazy_ted.py``; ``TUIBAO_LAZY_TED=0`` runs it always, for comparison);
- runs the model's graph in an order computed once instead of through dask
  (``bot/graph_runner.py``), keeps the rules matching a dialogue state (``bot/rule_lookup.py``),
  finds a stored event's class by a dict (``bot/event_types.py``), checks an action's answer
  event by event against its own branch of Rasa's schema (``bot/action_answer_schema.py``), and
  calls the action server on kept-alive connections with ujson bodies (``bot/action_calls.py``):
  each the same outcome as Rasa's own, each with a switch back for comparison (README);
- turns Rasa's telemetry off unless ``RASA_TELEMETRY_ENABLED`` says otherwise;
- leaves TensorFlow's thread settings (``TF_INTRA_OP_PARALLELISM_THREADS`` /
  ``TF_INTER_OP_PARALLELISM_THREADS``) at their defaults: measured with
  ``bench/tf_threads.py``, one thread each costs as much CPU per turn (20.6 against 18.5 ms)
  and makes a lone user's turn slower (70 against 29 ms wall, on a busy machine).

Several Sanic workers need a lock store every worker shares (Redis, endpoints.yml): with the
in-memory one Rasa runs one worker whatever ``SANIC_WORKERS`` says, and says so only at DEBUG
level; this entrypoint says it at WARNING.
"""
from __future__ import annotations

import functools
import os
import sys
from typing import Any, Dict, List, Optional, Text

_installed = False


@functools.lru_cache(maxsize=None)
def _compiled_action_answer_validator() -> Any:
    """The validator of Rasa's action-server answer schema, its schema checked once."""
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_action_result(self: Any, result: Dict[Text, Any]) -> bool:
    """``RemoteAction._validate_action_result`` with the compiled validator (same errors)."""
    from jsonschema import ValidationError, exceptions

    from rasa.shared.constants import DOCS_BASE_URL

    from bot import action_answer_schema

    if action_answer_schema.is_valid(result):  # each event against its own branch only
        return True
    error = exceptions.best_match(_compiled_action_answer_validator().iter_errors(result))
    if error is None:
        return True
    assert isinstance(error, ValidationError)
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


def install() -> None:
    """Install the cheaper validation into Rasa (idempotent)."""
    global _installed
    if _installed:
        return
    from rasa.core.actions.action import RemoteAction

    RemoteAction._validate_action_result = validate_action_result  # type: ignore[assignment]
    _installed = True


def _warn_if_single_worker(argv: List[str]) -> None:
    wanted = os.environ.get("SANIC_WORKERS", "1")
    if wanted in ("", "1"):
        return
    from rasa.core.utils import AvailableEndpoints, number_of_sanic_workers

    endpoints_path: Optional[str] = None
    for flag in ("--endpoints",):
        if flag in argv:
            endpoints_path = argv[argv.index(flag) + 1]
    endpoints = AvailableEndpoints.read_endpoints(endpoints_path or "endpoints.yml")
    if number_of_sanic_workers(endpoints.lock_store) == 1:
        print(f"bot.serve: SANIC_WORKERS={wanted} but the lock store is in memory: Rasa runs "
              "ONE worker (use a Redis lock store, endpoints.yml)", file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    from bot import handover

    if handover.wanted(argv):  # a supervisor that hands the socket over at a promote
        sys.exit(handover.supervise(argv))
    handover.install_child()  # serve on the supervisor's socket (a no-op without one), first:
    install()                 # it also ties this process's life to the supervisor's
    if argv[:1] == ["run"]:
        _warn_if_single_worker(argv)
        # PUT /model (tuibao model promote / rollback) loads the archive off the event loop
        from bot import swap

        swap.install()
        # A tracker store that fails fails the turn; Rasa would go on from an empty in-memory
        # tracker and fork the conversation (bot/tracker_store.py)
        from bot.tracker_store import never_fork_conversations

        never_fork_conversations()
        # GET /metrics, trace ids and the fallback counter (observability.rasa_server)
        from observability import metrics, rasa_server

        metrics.prepare_multiprocess("rasa", rasa_server.port_of(argv))  # before anything counts
        # kept-alive connections to the action server, ujson bodies (bot/action_calls.py): first,
        # so that rasa_server's trace-id wrapper wraps it rather than being replaced by it
        from bot import action_calls

        if action_calls.wanted():
            action_calls.install()
        # the workers share kept-alive connections (bot/connection_share.py): before
        # rasa_server wraps configure_app, so that its wrapper wraps this one
        from bot import connection_share

        if connection_share.wanted():
            connection_share.install()
        rasa_server.install()
        # TED is not run behind a policy that is already certain (bot/lazy_ted.py); before any
        # model loads, as Rasa's graph binds the policies' methods when it loads one
        if os.environ.get("TUIBAO_LAZY_TED", "1") != "0":
            from bot import lazy_ted

            lazy_ted.install()
        from bot import event_types, graph_runner, nlu_cache, rule_lookup, slot_validation

        if graph_runner.wanted():  # the graph's nodes in an order computed once, not by dask
            graph_runner.install()
        if event_types.wanted():  # a stored event's class found by a dict, not a class walk
            event_types.install()
        if rule_lookup.wanted():  # the rules matching a dialogue state found once
            rule_lookup.install()
        if nlu_cache.wanted():
            nlu_cache.install()
        if slot_validation.wanted():  # no action call to validate slots when none was filled
            slot_validation.install()
        from bot import action_domain

        if action_domain.wanted():  # the domain only to the actions that read it
            action_domain.install()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *argv]
    rasa_main()


if __name__ == "__main__":
    main()
