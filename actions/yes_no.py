"""The one yes/no reader of every prompt that decides something irreversible.

Three prompts submit, withdraw, erase or keep something (``stage``):

- ``quote_ready``: "确认要退保吗？" (submits the surrender of the quote read back, or keeps the policy);
- ``withdraw_ready``: "确认撤销这笔退保申请吗？" (withdraws the case, or lets it go on);
- ``confirm_erasure``: "确认要删除吗？" (erases what is kept about the chat, or keeps it).

An answer there is read from its words, the same way on every machine: plain Python, no model.
``bot.confirmation_policy.ConfirmationPolicy`` sends a message that is plainly an answer
(:func:`is_plain_answer`) straight to ``action_read_confirmation`` before any intent is
considered; the NLU decides only what is not a clear yes or no, and the rules still send its
affirm / deny / goodbye / thank at a prompt to the same action, which reads the words again with
:func:`read_answer` (the words win over the intent).

Reading (refusal first, so "好的，先别交" is a no; a question is never an answer):

==================  ==================================  ==================================
words               quote / erasure                     withdrawal
==================  ==================================  ==================================
确认 好的 好 对 是的   yes                                 yes
可以 嗯 行 没问题 OK
取消                no                                  unclear ("取消" what? asked again);
                                                        取消申请 / 取消退保: yes
算了 不要 不用 不了    no                                  no
先不要 再想想 不确认
不退了 确认不退了      no (the policy stays)               yes (不退了 = withdraw the surrender)
不删了 不要删除       no                                  no
删 删吧 删除          yes at the erasure prompt            —
撤销 撤回 撤吧        no at the erasure prompt             yes
==================  ==================================  ==================================
"""
from __future__ import annotations

import re
from typing import Optional

from ground.stages import Stage

YES, NO, UNCLEAR = "yes", "no", "unclear"
CONFIRMATION_STAGES = (Stage.QUOTE_READY, Stage.WITHDRAW_READY, Stage.CONFIRM_ERASURE)

# Words that refuse. Checked before agreement: "好的，先别交", "确认不退了" (at the quote),
# "不确认", "不要删除" are refusals although they hold a yes word.
_REFUSAL = re.compile(
    r"别|先不|暂时不|不要|不用|不了|不行|不好|不对|不是|不可以|不同意|不确认|不确定|不提交|不交|不撤|"
    r"不办|不(想)?退|不删|不取消|缓缓|缓一缓|再想|再考虑|考虑考虑|考虑一下|想想|再看看|看看再说|等等|等一下|稍等|"
    r"hold|wait|\bno\b|nope|cancel|算了|拉倒|罢了", re.IGNORECASE)
_AGREEMENT = re.compile(
    r"好|行|妥|可以|阔以|确认|确定|同意|没问题|没毛病|交吧|提交|办吧|撤吧|撤销吧|就这样|是的|对的|"
    r"^\s*[是对中嗯恩][的啊呀吧滴]?\s*[!！。.~～]*\s*$|嗯|\bok\b|okay|okk|yes|yep|sure|👌|👍|✅",
    re.IGNORECASE)
# At the withdrawal prompt, asking to withdraw is a yes ("撤销", "不想退了，撤了吧"), and the 不 of
# "不退了" belongs to the surrender, not to the answer: it is removed before looking for a refusal.
_SURRENDER_NEGATIONS = re.compile(r"不(想|再)?退(了|保)?|不要退(了|保)?")
_WITHDRAWAL = re.compile(r"撤|取消(申请|退保|这笔|掉)|作废|不(想|再)?退|不要退")
# At the withdrawal prompt a bare 取消 could cancel the application or the withdrawal: neither
# is assumed.
_BARE_CANCEL = re.compile(r"取消")
# At the erasure prompt 取消 and 撤 cancel the erasure, and 删 on its own agrees ("删吧", "删掉").
_ERASURE_REFUSAL = re.compile(r"取消|撤|保留|留着")
_ERASURE_AGREEMENT = re.compile(r"删")
# Elsewhere 取消 is the cancel of a dialog: a no.
_CANCEL = re.compile(r"取消")
# "是不是", "能不能" ask; their 不 refuses nothing.
_A_NOT_A = re.compile(r"是不是|会不会|能不能|可不可以|行不行|要不要|用不用|好不好|对不对|有没有")
_QUESTION = re.compile(r"[?？吗呢]|什么|怎么|为啥|为什么|能不能|会不会|是不是|可不可以|行不行|多少|多久|哪")
# A message that carries a number (another policy, a case, a phone) is not a bare answer.
_IDENTIFIER = re.compile(r"[0-9０-９]{4,}|[A-Za-z]{2,}\s*[0-9]{3,}")

# What may surround a yes or no without making it more than an answer: the object of the
# prompt, politeness, particles, punctuation, emoji.
_ANSWER_WORDS = re.compile(
    r"确认删除|确认撤销|确认退保|确认提交|确认|确定|好的|好滴|好嘞|好吧|好|对的|对|是的|是|可以|阔以|"
    r"嗯+|恩+|行|没问题|没毛病|同意|妥了?|ok|okay|okk|yes|yep|sure|no|nope|"
    r"取消|算了|拉倒|不要|不用|不了|不退了|不退|不想退了|不删了|不删|先不要|先别|先不退了|先不退|先不|别|"
    r"再想想|想想|再考虑|考虑考虑|考虑一下|再看看|等等|等一下|不确认|不提交|不撤销|不撤了|不撤|保留|留着|"
    r"退保|提交|申请|撤销|撤回|撤|删除|删掉|删|信息|数据|记录|这笔|这张|保单|我的|帮我|给我|一下|"
    r"继续办理|继续|"  # (the withdrawal's own button: 「不撤销，继续办理」)
    r"还是|就|那|吧|了|啊|呀|哦|噢|嘛|啦|哈|吖|的|呗|滴|"
    r"谢谢|多谢|麻烦了?|请|您|你|我|拜拜|再见|"
    r"[\s,，.。!！~～、…·:：;；'\"“”‘’()（）]|[\U0001F300-\U0001FAFF\u2600-\u27BF\uFE0F]",
    re.IGNORECASE)


def read_answer(text: Optional[str], stage: Optional[str], intent: Optional[str] = None) -> str:
    """``yes``, ``no`` or ``unclear`` for an answer given at the prompt of ``stage``.

    ``intent`` is the NLU's reading, used only where the words say neither yes nor no: affirm
    (a tapped button, "对") then counts as agreement. Words that refuse always win."""
    raw = (text or "").strip()
    words = raw
    withdrawing = stage == Stage.WITHDRAW_READY
    erasing = stage == Stage.CONFIRM_ERASURE
    if withdrawing:
        words = _SURRENDER_NEGATIONS.sub("", words)
    if _REFUSAL.search(_A_NOT_A.sub("", words)) or (erasing and _ERASURE_REFUSAL.search(words)):
        return NO
    if _QUESTION.search(words):
        return UNCLEAR  # "好的，多久到账？", "删了还能恢复吗": a question, not an answer
    if withdrawing:
        if _WITHDRAWAL.search(raw):
            return YES
        if _BARE_CANCEL.search(words):
            return UNCLEAR
    elif _CANCEL.search(words):
        return NO
    if _AGREEMENT.search(words) or (erasing and _ERASURE_AGREEMENT.search(words)):
        return YES
    if intent == "affirm":
        return YES  # the NLU's affirm ("/affirm" of a button, "对呀") where the words are silent
    return UNCLEAR


def is_plain_answer(text: Optional[str], stage: Optional[str]) -> bool:
    """Whether ``text`` is nothing but a yes or a no at the prompt of ``stage`` (so it is read
    before any intent): a short message of answer words, politeness and punctuation, with no
    number and no question in it. "确认" and "算了吧，谢谢" are; "我想确认一下保单还有效吗" and
    "好的 SBX2000000000043" are not (the NLU decides those)."""
    words = (text or "").strip()
    if stage not in CONFIRMATION_STAGES or not words or len(words) > 20:
        return False
    if _IDENTIFIER.search(words) or words.startswith("/"):
        return False
    if read_answer(words, stage) == UNCLEAR and not (stage == Stage.WITHDRAW_READY and _BARE_CANCEL.search(words)):
        return False  # (a bare 取消 at the withdrawal prompt is read there too: it is asked again)
    return not _ANSWER_WORDS.sub("", words)
