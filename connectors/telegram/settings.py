"""Settings of the Telegram channel: credentials.yml values, overridden by the environment.

Defaults run the demo (contract, "Telegram"): bot token ``123456:tuibao-demo-telegram``, secret
token ``tuibao-demo-telegram-secret``, the Bot API stand-in of the simulator. Building a
``TelegramSettings`` only reads values: no client, no network.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping, Optional, Tuple

from connectors.sources import layered, refuse_demo_secrets

DEMO_BOT_TOKEN = "123456:tuibao-demo-telegram"
DEMO_SECRET_TOKEN = "tuibao-demo-telegram-secret"
# python-telegram-bot's ``base_url``: the token is put where ``{token}`` stands.
DEMO_API_BASE_URL = "http://127.0.0.1:8088/telegram/bot{token}"
DEMO_WEBHOOK_URL = "http://127.0.0.1:5005/webhooks/telegram/webhook"
# What the webhook handles; Telegram is told to send nothing else (setWebhook allowed_updates).
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")

# credentials.yml key -> environment variable that overrides it
_ENV = {
    "bot_token": "TELEGRAM_BOT_TOKEN",
    "secret_token": "TELEGRAM_SECRET_TOKEN",
    "api_base_url": "TELEGRAM_API_BASE_URL",
    "webhook_url": "TELEGRAM_WEBHOOK_URL",
    "dedupe_redis_url": "TELEGRAM_DEDUPE_REDIS_URL",
    "redis_prefix": "TELEGRAM_REDIS_PREFIX",
    "api_timeout_s": "TELEGRAM_API_TIMEOUT_S",
    "max_retry_after_s": "TELEGRAM_MAX_RETRY_AFTER_S",
}


@dataclass(frozen=True)
class TelegramSettings:
    """Everything the channel needs; see ``from_sources`` for where each value comes from."""

    bot_token: str = DEMO_BOT_TOKEN
    # Sent by Telegram in X-Telegram-Bot-Api-Secret-Token on every update (set by setWebhook).
    secret_token: str = DEMO_SECRET_TOKEN
    # ``https://api.telegram.org/bot{token}`` in production; the simulator in the demo.
    api_base_url: str = DEMO_API_BASE_URL
    # The public address Telegram posts updates to (registered by ``connectors.telegram.webhook``).
    webhook_url: str = DEMO_WEBHOOK_URL
    # Empty: in-process memory (one Rasa process only). Several processes need Redis.
    dedupe_redis_url: Optional[str] = None
    # Namespace of every Redis key (update ids, the bot's flood back-off).
    redis_prefix: str = "tuibao:telegram"
    # Timeout of every call to the Bot API (connect, read, write).
    api_timeout_s: float = 5.0
    # A 429 asking for a longer pause than this is not waited out: the message is reported
    # undelivered instead of holding the chat's later messages for minutes.
    max_retry_after_s: float = 30.0

    @classmethod
    def from_sources(
        cls,
        credentials: Optional[Mapping[str, Any]] = None,
        environ: Optional[Mapping[str, str]] = None,
    ) -> "TelegramSettings":
        """credentials.yml values, each overridden by its ``TELEGRAM_*`` environment variable."""
        values = layered(credentials, environ, _ENV)
        types = {f.name: f.type for f in fields(cls)}
        for key, value in list(values.items()):
            values[key] = float(value) if types[key] == "float" else str(value)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse values Telegram would refuse, at start-up rather than on the first update."""
        token_ok = ":" in self.bot_token and self.bot_token.split(":", 1)[0].isdigit()
        if not token_ok:
            raise ValueError("TELEGRAM_BOT_TOKEN must look like '<bot id>:<secret>'")
        # Telegram: 1-256 characters, only A-Z, a-z, 0-9, _ and -.
        if not (1 <= len(self.secret_token) <= 256) or not all(
                c.isascii() and (c.isalnum() or c in "_-") for c in self.secret_token):
            raise ValueError("TELEGRAM_SECRET_TOKEN must be 1-256 characters of A-Z a-z 0-9 _ -")
        refuse_demo_secrets("Telegram", self.api_base_url, {
            "TELEGRAM_BOT_TOKEN": (self.bot_token, DEMO_BOT_TOKEN),
            "TELEGRAM_SECRET_TOKEN": (self.secret_token, DEMO_SECRET_TOKEN),
        })

    @property
    def allowed_updates(self) -> Tuple[str, ...]:
        return ALLOWED_UPDATES
