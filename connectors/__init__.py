"""Rasa channels of Tuibao (``connectors.wechat.WeChatInput``, ...), named in credentials.yml."""
