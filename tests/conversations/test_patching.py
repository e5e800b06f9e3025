"""bot/patching.py: a patch replaces the package's own attribute, puts it back exactly, and
refuses to throw away a wrapper of ours that got there first (the trace id the action server's
log lost on 7 December)."""
from __future__ import annotations

import functools

import pytest

from bot.patching import Patch, PatchConflict


def test_a_patch_replaces_and_puts_back_the_packages_own_attribute():
    from rasa.utils.endpoints import EndpointConfig

    own = EndpointConfig.__dict__["request"]

    async def replacement(self, *args, **kwargs):
        return None

    patch = Patch("rasa.utils.endpoints:EndpointConfig", "request", replacement)
    patch.install()
    patch.install()  # twice changes nothing
    try:
        assert EndpointConfig.request is replacement and patch.original is own
    finally:
        patch.uninstall()
    assert EndpointConfig.__dict__["request"] is own and not patch.installed


def test_a_wrapper_of_ours_installed_first_is_not_thrown_away():
    """observability wraps EndpointConfig.request for the trace id; a patch of the same method
    installed after it raises, naming the wrapper, and leaves it in place."""
    from rasa.utils.endpoints import EndpointConfig

    own = EndpointConfig.__dict__["request"]

    @functools.wraps(own)  # as observability does: the wrapper claims Rasa's module and name
    async def traced(self, *args, **kwargs):
        return await own(self, *args, **kwargs)

    EndpointConfig.request = traced
    try:
        with pytest.raises(PatchConflict, match="test_patching.py"):
            Patch("rasa.utils.endpoints:EndpointConfig", "request", lambda self: None).install()
        assert EndpointConfig.request is traced
    finally:
        EndpointConfig.request = own
