"""Sentences of the handoff desk shown to agents in the console (the bot's own sentences to
users live in domain.yml)."""

WECHAT_WINDOW_CLOSED = ("未送达：用户超过48小时没有和公众号互动，微信不允许再主动发消息（45015）。"
                        "请等用户再次发消息，或改用电话联系。")
WECHAT_QUOTA_USED = ("未送达：已用完微信给这位用户的客服消息条数（45047）。"
                     "用户再次发消息后额度会恢复。")
WECHAT_UNSUBSCRIBED = "未送达：用户已取消关注公众号（43004）。"
WECHAT_RATE_LIMITED = "未送达：微信接口调用太频繁，请一分钟后再试。"
DELIVERY_FAILED = "未送达：发送时出错，请稍后重试。"
TELEGRAM_BLOCKED = "未送达：用户已在 Telegram 屏蔽了机器人，或从未开始对话。"
TELEGRAM_RATE_LIMITED = "未送达：Telegram 限制发送频率，请稍后再试。"
CHANNEL_CANNOT_PUSH = "未送达：{channel} 渠道不支持主动发消息。"

# Sent to the user when a person joins or leaves the chat (issue 19.7): nobody wonders whether a
# person or the bot is answering. A hand-back adds nothing here: the bot says it is back
# (utter_handback_bot_back).
USER_AGENT_JOINED = "人工客服已接入，接下来由客服为您服务，请直接把您的问题发过来。"
USER_AGENT_LEFT = "人工客服已结束本次服务。如还需要办理退保或查询进度，直接发消息给我就可以。"

# Canned replies agents insert with one click (the agent may edit before sending).
CANNED_REPLIES = (
    "您好，我是人工客服，已经接手您的问题，请稍等，我先看一下刚才的记录。",
    "请问还有什么可以帮您的吗？",
    "您的退保申请已经提交，退款会在预计到账日前退回，请留意银行卡到账通知。",
    "为了保护您的信息，请不要在对话中发送完整的身份证号或银行卡号。",
    "这个问题我需要和保险公司确认一下，确认后第一时间回复您。",
    "稍后我会把对话交还给退保助手，它会继续帮您办理。",
)
