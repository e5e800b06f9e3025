"""WeChat official-account channel for Rasa (credentials.yml key ``connectors.wechat.WeChatInput``).

Modules, one concern each: ``settings`` (credentials and environment), ``protocol``
(signature, AES, XML), ``dedupe`` (the shared store: deliveries, their results, late answers,
push state), ``render`` (Rasa responses as WeChat text), ``client`` (WeChat's server API,
async), ``channel`` (the Rasa channel).
"""
from connectors.wechat.channel import WeChatInput, WeChatOutput

__all__ = ["WeChatInput", "WeChatOutput"]
