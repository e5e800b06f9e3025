"""Where a conversation stands: the values of the ``stage`` slot (domain.yml).

Actions set the slot, rules and the confirmation policy read it, the console tells an agent
what it means. A ``str`` enum, so a ``Stage`` is its value wherever a string is expected: on the
wire, in the tracker store and in comparisons with a slot's value (``Stage.QUOTE_READY ==
"quote_ready"``). tests/ground/test_stages.py keeps it equal to domain.yml's list.
"""
from __future__ import annotations

import enum


class Stage(str, enum.Enum):
    """One value of the ``stage`` slot; no stage at all is ``None``."""

    VERIFIED = "verified"  # identity checked, the form may end
    QUOTE_READY = "quote_ready"  # quote read back, waiting for an explicit confirmation
    SUBMITTED = "submitted"  # case created
    NOT_ELIGIBLE = "not_eligible"  # insurer said no (terminated, open case, not the policyholder)
    CASE_SHOWN = "case_shown"  # a case's status was told
    CASE_NOT_FOUND = "case_not_found"  # the case number named is not the holder's
    WITHDRAW_READY = "withdraw_ready"  # case shown, waiting for confirmation of the withdrawal
    WITHDRAWN = "withdrawn"  # case revoked
    LOCKED = "locked"  # identity check locked: a person takes over
    INSURER_DOWN = "insurer_down"  # the insurer did not answer: a person takes over
    REVERIFY = "reverify"  # the holder's session expired: check identity again
    POLICIES_FOUND = "policies_found"  # holder lookup passed: the policies are listed as choices
    ERASURE_VERIFY = "erasure_verify"  # erasure asked for where a policy is involved: identity first
    CONFIRM_ERASURE = "confirm_erasure"  # erasure asked for: waiting for an explicit confirmation
    LOOKUP_WANTED = "lookup_wanted"  # "不知道" when the policy number was asked: the lookup next

    def __str__(self) -> str:  # the slot's value, as a plain string would print
        return self.value
