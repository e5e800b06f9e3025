"""Settings of the WeChat channel: credentials.yml values, overridden by the environment.

Defaults run the demo (contract: token ``tuibao-demo-token``, app id ``wx00000000demo0001``,
the demo EncodingAESKey, pointed at the local simulator). Nothing here touches the network or
creates a client: building a ``WeChatSettings`` only reads values.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Optional

from connectors.limits import MAX_TEXT_CHARS
from connectors.sources import layered, refuse_demo_secrets

DEMO_TOKEN = "tuibao-demo-token"
DEMO_APP_ID = "wx00000000demo0001"
DEMO_APP_SECRET = "demo-secret"
DEMO_ENCODING_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
DEMO_API_BASE_URL = "http://127.0.0.1:8088"

# WeChat's message encryption modes (消息加解密方式), as chosen in the account's console.
PLAINTEXT, COMPATIBLE, SAFE = "plaintext", "compatible", "safe"
ENCRYPT_MODES = (PLAINTEXT, COMPATIBLE, SAFE)

# credentials.yml key -> environment variable that overrides it
_ENV = {
    "token": "WECHAT_TOKEN",
    "app_id": "WECHAT_APP_ID",
    "app_secret": "WECHAT_APP_SECRET",
    "encoding_aes_key": "WECHAT_ENCODING_AES_KEY",
    "previous_encoding_aes_key": "WECHAT_PREVIOUS_ENCODING_AES_KEY",
    "api_base_url": "WECHAT_API_BASE_URL",
    "customer_service_api": "WECHAT_CUSTOMER_SERVICE_API",
    "dedupe_redis_url": "WECHAT_DEDUPE_REDIS_URL",
    "redis_prefix": "WECHAT_REDIS_PREFIX",
    "reply_deadline_s": "WECHAT_REPLY_DEADLINE_S",
    "max_timestamp_skew_s": "WECHAT_MAX_TIMESTAMP_SKEW_S",
    "api_timeout_s": "WECHAT_API_TIMEOUT_S",
    "encrypt_mode": "WECHAT_ENCRYPT_MODE",
    "max_text_chars": "WECHAT_MAX_TEXT_CHARS",
}


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class WeChatSettings:
    """Everything the channel needs; see ``from_sources`` for where each value comes from."""

    # Secrets stay out of repr(), so a logged settings object leaks none of them.
    token: str = field(default=DEMO_TOKEN, repr=False)
    app_id: str = DEMO_APP_ID
    app_secret: str = field(default=DEMO_APP_SECRET, repr=False)
    encoding_aes_key: Optional[str] = field(default=DEMO_ENCODING_AES_KEY, repr=False)
    previous_encoding_aes_key: Optional[str] = field(default=None, repr=False)
    # Root of WeChat's server API (``https://api.weixin.qq.com`` in production); the demo
    # points at the simulator, which serves the same paths.
    api_base_url: str = DEMO_API_BASE_URL
    # Verified accounts may push customer-service messages; unverified subscription accounts
    # can only answer passively.
    customer_service_api: bool = True
    # Empty: in-process memory (one Rasa process only). Several processes need Redis.
    dedupe_redis_url: Optional[str] = None
    # Namespace of every Redis key (deliveries, nonces, the access token and its lock); two
    # deployments sharing one Redis need different prefixes.
    redis_prefix: str = "tuibao:wechat"
    # WeChat gives up after 5 s; answer a little before that.
    reply_deadline_s: float = 4.5
    # Requests older (or newer) than this are refused as stale.
    max_timestamp_skew_s: int = 300
    # Timeout of every call to WeChat's server API.
    api_timeout_s: float = 5.0
    # The account's one mode. safe: only AES-encrypted callbacks are accepted, a plaintext one
    # is refused however it is signed (the URL signature does not cover the body). compatible:
    # WeChat sends the ciphertext beside the plaintext; only the ciphertext is read. plaintext:
    # unencrypted callbacks only.
    encrypt_mode: str = SAFE
    # Longer texts are answered without reaching NLU (connectors.limits).
    max_text_chars: int = MAX_TEXT_CHARS

    def __post_init__(self) -> None:
        if self.encrypt_mode not in ENCRYPT_MODES:
            raise ValueError(f"WeChat encrypt_mode must be one of {', '.join(ENCRYPT_MODES)}, "
                             f"not {self.encrypt_mode!r}")
        if self.encrypt_mode != PLAINTEXT and not self.encoding_aes_key:
            raise ValueError(f"WeChat {self.encrypt_mode} mode needs an EncodingAESKey")
        if self.max_text_chars < 1:
            raise ValueError("WeChat max_text_chars must be positive")
        refuse_demo_secrets("WeChat", self.api_base_url, {
            "WECHAT_TOKEN": (self.token, DEMO_TOKEN),
            "WECHAT_APP_SECRET": (self.app_secret, DEMO_APP_SECRET),
            "WECHAT_ENCODING_AES_KEY": (self.encoding_aes_key, DEMO_ENCODING_AES_KEY),
        })

    @classmethod
    def from_sources(
        cls,
        credentials: Optional[Mapping[str, Any]] = None,
        environ: Optional[Mapping[str, str]] = None,
    ) -> "WeChatSettings":
        """credentials.yml values, each overridden by its ``WECHAT_*`` environment variable."""
        values = layered(credentials, environ, _ENV)
        types = {f.name: f.type for f in fields(cls)}
        for key, value in list(values.items()):
            if key == "customer_service_api":
                values[key] = _as_bool(value)
            elif types[key] in ("float",):
                values[key] = float(value)
            elif types[key] in ("int",):
                values[key] = int(value)
            elif key == "encrypt_mode":
                values[key] = str(value).strip().lower()
            else:
                values[key] = str(value)
        return cls(**values)

    @property
    def aes_keys(self) -> list:
        """EncodingAESKeys to try, current first (WeChat advises keeping the previous one)."""
        return [k for k in (self.encoding_aes_key, self.previous_encoding_aes_key) if k]
