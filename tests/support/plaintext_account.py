"""A second official account in plaintext mode, mounted beside the demo's safe-mode one in the
test stack (``/webhooks/wechat_plain/webhook``), so the protocol tests exercise both modes
against one Rasa process instead of starting a second one."""
from __future__ import annotations

from typing import Text

from connectors.wechat.channel import WeChatInput


class PlaintextAccountInput(WeChatInput):
    """The WeChat channel under another URL; credentials give it ``encrypt_mode: plaintext``."""

    @classmethod
    def name(cls) -> Text:
        return "wechat_plain"
