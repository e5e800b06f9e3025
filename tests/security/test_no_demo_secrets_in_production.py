"""A channel pointed at the real WeChat or Telegram API refuses to start on the contract's
public demo secrets (anyone who has read the contract could forge its callbacks); the demo,
pointed at this machine's simulator, keeps them."""
import pytest

from connectors.telegram.settings import TelegramSettings
from connectors.wechat.settings import WeChatSettings

WECHAT_PROD = {"api_base_url": "https://api.weixin.qq.com", "encrypt_mode": "safe"}
WECHAT_SECRETS = {"WECHAT_TOKEN": "prod-token-7f3a", "WECHAT_APP_SECRET": "prod-secret-91c2",
                  "WECHAT_ENCODING_AES_KEY": "Zyxwvutsrqponmlkjihgfedcba9876543210ZYXWVUT"}
TELEGRAM_PROD = {"TELEGRAM_API_BASE_URL": "https://api.telegram.org/bot{token}"}
TELEGRAM_SECRETS = {"TELEGRAM_BOT_TOKEN": "987654:AAprod-token",
                    "TELEGRAM_SECRET_TOKEN": "prod-webhook-secret"}


def test_the_demo_keeps_its_contract_values():
    assert WeChatSettings.from_sources({}, {}).token == "tuibao-demo-token"
    assert TelegramSettings.from_sources({}, {}).bot_token == "123456:tuibao-demo-telegram"


@pytest.mark.parametrize("left_out", sorted(WECHAT_SECRETS))
def test_wechat_production_names_each_demo_secret_left_in_place(left_out):
    environ = {k: v for k, v in WECHAT_SECRETS.items() if k != left_out}
    with pytest.raises(ValueError) as refused:
        WeChatSettings.from_sources(WECHAT_PROD, environ)
    assert left_out in str(refused.value) and "api.weixin.qq.com" in str(refused.value)
    assert not any(v in str(refused.value) for v in WECHAT_SECRETS.values())


def test_wechat_production_starts_with_its_own_secrets():
    settings = WeChatSettings.from_sources(WECHAT_PROD, WECHAT_SECRETS)
    assert settings.token == "prod-token-7f3a" and settings.api_base_url == "https://api.weixin.qq.com"


@pytest.mark.parametrize("left_out", sorted(TELEGRAM_SECRETS))
def test_telegram_production_names_each_demo_secret_left_in_place(left_out):
    environ = {**TELEGRAM_PROD, **{k: v for k, v in TELEGRAM_SECRETS.items() if k != left_out}}
    with pytest.raises(ValueError, match=left_out):
        TelegramSettings.from_sources({}, environ)
    assert TelegramSettings.from_sources({}, {**TELEGRAM_PROD, **TELEGRAM_SECRETS}).secret_token \
        == "prod-webhook-secret"
