"""What every channel itself says around a turn (the dialogue's own sentences are in
domain.yml; a channel's particular ones in its ``wording`` or ``channel`` module)."""

# The turn failed (a bug, Rasa or the action server down): said instead of the turn's answer.
TURN_FAILED = "抱歉，系统暂时出了点问题，请稍后再试，或发送“转人工”联系人工客服。"
# Typed text that starts with "/" would be read by Rasa as an intent with entities, the user's
# own choice of what the dialogue does next: it is answered with this and never reaches NLU.
TYPED_COMMAND = "抱歉，这里不用输入以“/”开头的指令。请直接用文字告诉我，比如“我要退保”，或点选消息里的选项。"


def too_long_answer(length: int, limit: int) -> str:
    """The answer to a message of ``length`` characters over ``limit``."""
    return (f"您的消息有 {length} 个字，超过了每条 {limit} 字的上限，这条消息没有处理。"
            f"请分几条发送，每条不超过 {limit} 字；想退保，直接发送“我要退保”即可。")
