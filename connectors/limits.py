"""What a user's message may be before it reaches NLU, for every channel.

WeChat's own input box stops far below the size that slows the model (the simulator's stops
at 600 characters); a 13,800-character text kept the model busy for seconds while other users
waited. A longer message is answered with ``too_long_answer`` and never reaches NLU, and the long
messages that do reach it are handled one at a time (``HeavyTurnGate``).
"""
from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Dict, Optional

from rasa.core.channels.channel import UserMessage

from connectors import wording

MAX_TEXT_CHARS = 600


def too_long_answer(length: int, limit: int = MAX_TEXT_CHARS) -> str:
    """The answer to a message of ``length`` characters over ``limit``."""
    return wording.too_long_answer(length, limit)


# Texts longer than this cost NLU several times a short one (a 600-character turn about four
# times a "你好"; bench/long_texts.py). Rasa runs NLU on the event loop, so a burst of them
# would stall every conversation: their turns pass one at a time, and their NLU runs in a
# worker thread while the loop serves everyone else.
HEAVY_TEXT_CHARS = 120
HEAVY_TURNS_AT_ONCE = 1


class HeavyTurnGate:
    """Every short turn goes through at once, as Rasa runs it; a long one waits for its turn
    (``HEAVY_TURNS_AT_ONCE``) and has its text parsed off the event loop. Create it anywhere;
    the semaphore and the worker thread are made on first use, inside the server's loop."""

    def __init__(self, heavy_chars: int = HEAVY_TEXT_CHARS,
                 at_once: int = HEAVY_TURNS_AT_ONCE) -> None:
        self.heavy_chars = heavy_chars
        self._at_once = at_once
        self._semaphore: Optional[asyncio.Semaphore] = None
        self._worker: Optional[ThreadPoolExecutor] = None

    def is_heavy(self, text: str) -> bool:
        return len(text) > self.heavy_chars

    @contextlib.asynccontextmanager
    async def admit(self, text: str) -> AsyncIterator[None]:
        """Hold a long text's turn until fewer than ``at_once`` long turns run."""
        if not self.is_heavy(text):
            yield
            return
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._at_once)
        async with self._semaphore:
            yield

    async def parse(self, agent: Any, text: str) -> Optional[Dict[str, Any]]:
        """A long text's parse data, computed in the worker thread (Rasa takes it as
        ``UserMessage.parse_data`` and skips its own parse on the loop); None for a short text,
        or when NLU is a remote server (already asynchronous) or no model is loaded."""
        processor = getattr(agent, "processor", None)
        if not self.is_heavy(text) or processor is None or processor.http_interpreter:
            return None
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=self._at_once,
                                              thread_name_prefix="tuibao-heavy-nlu")

        def parse_in_worker() -> Dict[str, Any]:
            # parse_message awaits nothing without a remote NLU server: a private loop in
            # this thread runs it through, never touching the server's loop.
            return asyncio.run(processor.parse_message(UserMessage(text)))

        return await asyncio.get_running_loop().run_in_executor(self._worker, parse_in_worker)
