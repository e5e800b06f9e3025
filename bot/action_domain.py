"""The domain goes to the action server only with the calls that read it (issue 23).

Rasa 3.6 sends every call to the action server the whole domain beside the tracker
(``RemoteAction._action_call_format``): 60 KB of responses, slots and forms the action server
parses every time, for actions that never look at it. Rasa's own remedy,
``enable_selective_domain`` with ``send_domain: true`` on chosen actions, lives in the trained
model's domain, so a model trained before the marks were added would silently starve the
forms' validation of the domain it needs.

Here the rule is in code, the same for every model: the domain is sent to rasa-sdk's
validation actions, which need it to find their slots (``validate_<form>`` by Rasa's naming,
and ``action_validate_slot_mappings``), and to any action the domain marks ``send_domain``;
not to the others. ``tests/conversations/test_action_domain.py`` checks every action of
``actions/`` against the rule: each validation action is covered, no other one reads the
domain. ``python -m bot.serve`` installs it; ``TUIBAO_SELECTIVE_DOMAIN=0`` sends it always.
"""
from __future__ import annotations

import os
from typing import Any, Dict

from bot.patching import Patch

ENV = "TUIBAO_SELECTIVE_DOMAIN"
SLOT_MAPPINGS_VALIDATION = "action_validate_slot_mappings"


def needs_domain(action_name: str, domain: Any = None) -> bool:
    """Whether a call of ``action_name`` carries the domain."""
    if action_name.startswith("validate_") or action_name == SLOT_MAPPINGS_VALIDATION:
        return True
    return bool(domain is not None
                and domain.does_custom_action_explicitly_need_domain(action_name))


def _action_call_format(self: Any, tracker: Any, domain: Any) -> Dict[str, Any]:
    """``RemoteAction._action_call_format`` of Rasa 3.6, the domain only where it is read."""
    import rasa
    from rasa.shared.core.trackers import EventVerbosity

    result = {
        "next_action": self._name,
        "sender_id": tracker.sender_id,
        "tracker": tracker.current_state(EventVerbosity.ALL),
        "version": rasa.__version__,
    }
    if needs_domain(self.name(), domain):
        result["domain"] = domain.as_dict()
    return result


def wanted() -> bool:
    return os.environ.get(ENV, "1") != "0"


_patch = Patch("rasa.core.actions.action:RemoteAction", "_action_call_format",
               _action_call_format)


def install() -> None:
    _patch.install()


def uninstall() -> None:
    _patch.uninstall()
