"""Settings of the WeChat simulator, read from the environment.

Defaults run the demo (the runtime contract in the conversation contract): the simulator on
127.0.0.1:8088, the bot's WeChat webhook on 127.0.0.1:5005, the sandbox insurer on
127.0.0.1:8090 and the demo official-account credentials.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

DEMO_TOKEN = "tuibao-demo-token"
DEMO_APP_ID = "wx00000000demo0001"
DEMO_APP_SECRET = "demo-secret"
DEMO_ENCODING_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

DEMO_TELEGRAM_BOT_TOKEN = "123456:tuibao-demo-telegram"
DEMO_TELEGRAM_SECRET_TOKEN = "tuibao-demo-telegram-secret"

ENCRYPT_MODES = ("safe", "compatible", "plain")


@dataclass(frozen=True)
class SimulatorSettings:
    """Everything the simulator can be told; see ``from_env`` for the variable names."""

    host: str = "127.0.0.1"
    port: int = 8088
    webhook_url: str = "http://127.0.0.1:5005/webhooks/wechat/webhook"
    sandbox_url: str = "http://127.0.0.1:8090"
    demo_phone: str = "13800138000"
    # The phones whose SMS the page may show: the seed holders' (张伟, 李娜, 王芳). The page
    # follows the one that last got a code; nothing else can be read through the simulator.
    demo_phones: Tuple[str, ...] = ("13800138000", "13900139000", "13700137000")
    token: str = DEMO_TOKEN
    app_id: str = DEMO_APP_ID
    app_secret: str = DEMO_APP_SECRET
    encoding_aes_key: str = DEMO_ENCODING_AES_KEY
    # The account's original id (gh_…), the ToUserName of every inbound message.
    account_id: str = "gh_tuibao0demo01"
    account_name: str = "退保助手"
    encrypt_mode: str = "safe"
    # WeChat drops a webhook call after 5 s and tries 3 times in all.
    reply_timeout_seconds: float = 5.0
    delivery_attempts: int = 3
    token_lifetime_seconds: int = 7200
    sandbox_timeout_seconds: float = 3.0
    # Telegram (contract): the bot token the Bot API stand-in accepts, and the webhook it
    # starts with, as if ``python -m connectors.telegram.webhook set`` had run (None: none).
    telegram_bot_token: str = DEMO_TELEGRAM_BOT_TOKEN
    telegram_secret_token: str = DEMO_TELEGRAM_SECRET_TOKEN
    telegram_webhook_url: Optional[str] = "http://127.0.0.1:5005/webhooks/telegram/webhook"

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "SimulatorSettings":
        """Read ``SIM_*`` (``SANDBOX_URL`` too) and the shared ``WECHAT_*`` and
        ``TELEGRAM_BOT_TOKEN``/``TELEGRAM_SECRET_TOKEN`` credentials."""
        env = os.environ if env is None else env
        base = cls()

        def text(name: str, default: str) -> str:
            value = env.get(name, "").strip()
            return value or default

        mode = text("SIM_ENCRYPT_MODE", base.encrypt_mode).lower()
        telegram_webhook = text("SIM_TELEGRAM_WEBHOOK_URL", base.telegram_webhook_url or "none")
        if mode not in ENCRYPT_MODES:
            raise ValueError(f"SIM_ENCRYPT_MODE must be one of {', '.join(ENCRYPT_MODES)}")
        return cls(
            host=text("SIM_HOST", base.host),
            port=int(text("SIM_PORT", str(base.port))),
            webhook_url=text("SIM_WEBHOOK_URL", base.webhook_url),
            sandbox_url=text("SIM_SANDBOX_URL",
                             text("SANDBOX_URL", base.sandbox_url)).rstrip("/"),
            demo_phone=text("SIM_DEMO_PHONE", base.demo_phone),
            demo_phones=tuple(p.strip() for p in text("SIM_DEMO_PHONES", ",".join(base.demo_phones)).split(",")
                              if p.strip()),
            token=text("WECHAT_TOKEN", base.token),
            app_id=text("WECHAT_APP_ID", base.app_id),
            app_secret=text("WECHAT_APP_SECRET", base.app_secret),
            encoding_aes_key=text("WECHAT_ENCODING_AES_KEY", base.encoding_aes_key),
            account_id=text("SIM_ACCOUNT_ID", base.account_id),
            account_name=text("SIM_ACCOUNT_NAME", base.account_name),
            encrypt_mode=mode,
            reply_timeout_seconds=float(text("SIM_REPLY_TIMEOUT_SECONDS",
                                             str(base.reply_timeout_seconds))),
            delivery_attempts=max(1, int(text("SIM_DELIVERY_ATTEMPTS",
                                              str(base.delivery_attempts)))),
            token_lifetime_seconds=int(text("SIM_TOKEN_LIFETIME_SECONDS",
                                            str(base.token_lifetime_seconds))),
            sandbox_timeout_seconds=float(text("SIM_SANDBOX_TIMEOUT_SECONDS",
                                               str(base.sandbox_timeout_seconds))),
            telegram_bot_token=text("TELEGRAM_BOT_TOKEN", base.telegram_bot_token),
            telegram_secret_token=text("TELEGRAM_SECRET_TOKEN", base.telegram_secret_token),
            telegram_webhook_url=None if telegram_webhook.lower() == "none" else telegram_webhook,
        )
