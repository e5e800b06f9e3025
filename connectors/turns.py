"""The one turn pipeline every channel (WeChat, Telegram, REST) runs its users' messages through.

A channel reads its protocol (signatures, updates, dedupe, how answers go out) and hands each
message here; what every channel must do to a message is done here once, so a new channel gets
it by construction:

- **length limit**: typed text over ``max_text_chars`` (600, as WeChat's own input box) never
  reaches NLU; the channel says ``too_long_answer`` instead;
- **typed commands**: typed text starting with ``/`` is Rasa's ``/intent{entities}`` syntax, the
  user's own pick of what the dialogue does next (``/restart``, ``/back``, slots); it never reaches
  NLU on a channel whose users have buttons (``typed_commands=False``) and is answered
  ``TYPED_COMMAND``. Only the REST development channel keeps Rasa's convention (its clients send
  a button's payload back as text);
- **tapped choices**: a choice the bot offered runs its payload while the tracker records the
  words the user saw and tapped (``UserMessage.text`` = words, ``parse_data`` = the payload's
  reading), so the agent's transcript shows 退保 一年期意外险 …0012, never the payload;
- **heavy-turn gate**: long texts pass one at a time and are parsed off the event loop
  (``connectors.limits.HeavyTurnGate``);
- **logs**: what is logged of a message goes through the one masker (``redaction``) and every
  record of the process is redacted (``redaction.logs.install``);
- **conversation ids**: ``ground.conversation_ids`` (channel prefixes, ``channel_of``);
- **a failed turn** is logged and answered ``TURN_FAILED``, never a silence or a stack trace.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Optional

from rasa.core.channels.channel import OutputChannel, UserMessage

from connectors.limits import MAX_TEXT_CHARS, HeavyTurnGate
from connectors.wording import TURN_FAILED, TYPED_COMMAND, too_long_answer
from ground import conversation_ids
from redaction import mask_openid, redact
from redaction.logs import install as install_log_redaction

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
COMMAND_PREFIX = "/"  # Rasa's intent syntax (rasa.shared.constants.INTENT_MESSAGE_PREFIX)

__all__ = ["TURN_FAILED", "TYPED_COMMAND", "TurnPipeline", "log_text", "too_long_answer"]


def log_text(text: Optional[str]) -> str:
    """Message content for logs: personal data masked (``redaction``: dictated, spaced and
    full-width numbers too), length cut."""
    masked = redact((text or "")[:200]) or ""
    return masked[:40] + ("…" if len(masked) > 40 else "")


def log_user(conversation_id: str) -> str:
    """Enough of a conversation's user to tell users apart in logs."""
    channel = conversation_ids.channel_of(conversation_id)
    user = conversation_ids.user_of(conversation_id)
    if channel == conversation_ids.TELEGRAM:
        return f"…{user[-3:]}" if len(user) > 3 else "***"
    return mask_openid(user)


def is_typed_command(text: str) -> bool:
    return text.lstrip().startswith(COMMAND_PREFIX)


class TurnPipeline:
    """One channel's way into the dialogue. Create it in the channel's constructor; it makes
    its gate's semaphore and worker thread on first use, inside the server's loop."""

    def __init__(self, channel: str, *, max_text_chars: int = MAX_TEXT_CHARS,
                 typed_commands: bool = False, gate: Optional[HeavyTurnGate] = None) -> None:
        self.channel = channel
        self.max_text_chars = int(max_text_chars)
        self.typed_commands = typed_commands
        self.gate = gate or HeavyTurnGate()
        install_log_redaction()

    # ------------------------------------------------------------------ before a turn
    def conversation_id(self, user: Any) -> str:
        return conversation_ids.conversation_id(self.channel, user)

    def refusal(self, text: str) -> Optional[str]:
        """What to answer instead of running typed ``text``; None when it may run."""
        if len(text) > self.max_text_chars:
            return too_long_answer(len(text), self.max_text_chars)
        if not self.typed_commands and is_typed_command(text):
            return TYPED_COMMAND
        return None

    def log_message(self, what: str, conversation_id: str, text: Optional[str]) -> None:
        """The one log line of an incoming message, masked."""
        logger.info("%s %s from %s: %s", self.channel, what, log_user(conversation_id),
                    log_text(text))

    # ------------------------------------------------------------------ the turn
    async def run(self, on_new_message: OnNewMessage, output: OutputChannel,
                  conversation_id: str, text: str, *, payload: Optional[str] = None,
                  command: bool = False, agent: Any = None, message_id: Optional[str] = None,
                  metadata: Optional[Dict[str, Any]] = None) -> Optional[str]:
        """Run one turn of ``conversation_id``; None when it ran, else what the channel must
        say instead (a refusal, or ``TURN_FAILED`` when the turn failed).

        ``text``: what the user typed, or the words of the choice they tapped (``payload``:
        what that choice runs); ``command``: ``text`` is the channel's own intent (``/greet``
        for a new follower, a menu click), run as it is."""
        if payload is None and not command:
            refused = self.refusal(text)
            if refused is not None:
                return refused
        metadata = {"channel": self.channel, **(metadata or {})}
        try:
            if payload is not None:
                metadata["choice"] = {"payload": payload}
                parse_data = await self._parse_payload(agent, payload)
                if parse_data is None:  # no model here: Rasa reads the payload itself
                    text = payload
                await on_new_message(UserMessage(
                    text, output, conversation_id, input_channel=self.channel,
                    message_id=message_id, metadata=metadata, parse_data=parse_data))
                return None
            async with self.gate.admit(text):
                parse_data = None if command else await self.gate.parse(agent, text)
                await on_new_message(UserMessage(
                    text, output, conversation_id, input_channel=self.channel,
                    message_id=message_id, metadata=metadata, parse_data=parse_data))
            return None
        except Exception:
            logger.exception("%s turn for %s failed", self.channel, log_user(conversation_id))
            return TURN_FAILED

    @staticmethod
    async def _parse_payload(agent: Any, payload: str) -> Optional[Dict[str, Any]]:
        """The NLU's reading of a choice's payload (``/intent{…}``: that intent, those
        entities), for a turn whose text is the choice's words."""
        processor = getattr(agent, "processor", None)
        if processor is None:
            return None
        return await processor.parse_message(UserMessage(payload))
