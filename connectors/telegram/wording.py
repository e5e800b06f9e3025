"""Every sentence the Telegram channel itself says (the dialogue's own are in domain.yml; what
every channel says around a turn is ``connectors.wording``'s)."""
from connectors.wording import TURN_FAILED  # noqa: F401 (the failed-turn answer, shared)

START_OFFER = "想退保，点下面的按钮，或直接发送“我要退保”；查进度请发送“查询退保进度”。"
START_BUTTON = ("我要退保", "/request_surrender")
HELP = ("我是退保助手，可以帮您办理退保、查询退保进度或撤销退保申请。"
        "直接用文字告诉我就行，比如“我要退保”。")
UNKNOWN_COMMAND = "抱歉，没有这个命令。想退保，请直接发送“我要退保”，或发送 /start 重新开始。"
NOT_TEXT = "抱歉，我目前只能看懂文字消息，图片、贴纸和语音还看不懂。请直接打字告诉我，比如“我要退保”。"
EDITED_NOT_PROCESSED = "修改过的消息不会重新处理。如需更正，请直接再发一条新消息。"
PRIVATE_CHAT_ONLY = "退保涉及个人信息，请在与我的私聊中办理，不要在群里发送保单号或身份证号。"
STALE_BUTTON = "这个按钮已经失效了，请直接输入您的回答。"
CHOOSE = "请选择："  # Telegram refuses a keyboard without text
