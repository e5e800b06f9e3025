"""What people at the console read instead of codes: intents as a trainer names them (with an
example from the training data), handoff reasons and the bot's stages as an agent says them.

Every intent a trainer may give (``training.review.label_choices``) has a Chinese name here, and
every stage (``ground.stages.Stage``, equal to domain.yml) a text in :data:`STAGE_TEXT`;
tests/console/test_labels.py keeps both complete, so a new intent or stage fails a test until it
is named. A name missing at run time still never shows a bare code alone: the page falls back
to the training data's example.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import yaml

from ground.stages import Stage

# intent -> (中文名, the example a trainer recognises it by; it must be one of the intent's
# training examples, or the first short one of them is shown instead)
INTENT_NAMES: Dict[str, tuple] = {
    "greet": ("打招呼", "你好"),
    "goodbye": ("告别", "再见"),
    "thank": ("道谢", "谢谢"),
    "affirm": ("同意、确认", "是的"),
    "deny": ("否定、不同意", "不是"),
    "request_surrender": ("要退保", "我要退保"),
    "inform": ("提供信息（保单号、身份证后几位、验证码、退保原因）", "交不动了"),
    "ask_surrender_fee": ("问退保扣多少钱", "要扣手续费吗"),
    "ask_refund_time": ("问退款多久到账", "退款啥时候到"),
    "check_surrender_status": ("查退保进度", "我那个办好了没"),
    "withdraw_surrender": ("撤销自己的退保申请", "刚申请的退保帮我撤销"),
    "request_human": ("要人工客服", "给我转人工"),
    "complain": ("投诉、不满", "我要投诉你们"),
    "bot_challenge": ("问是不是机器人", "你是机器人吗"),
    "out_of_scope": ("与退保无关的话", "哈哈"),
    "rate_agent": ("评价人工客服", "客服服务很满意"),
    "ask_my_data": ("问存了我哪些信息", "我的信息你们存了什么"),
    "delete_my_data": ("要求删除我的信息", "删除我的信息"),
    "find_policy": ("没有保单号，要找保单", "我不知道保单号"),
    "faq/cooling_off": ("常见问题：犹豫期", "什么是犹豫期"),
    "faq/cash_value": ("常见问题：现金价值", "现价怎么算的"),
    "faq/documents": ("常见问题：要去柜台、要什么材料", "退保能在手机上办吗"),
    "faq/who_can_surrender": ("常见问题：谁能退保、能否代退", "家里人能不能代我退保"),
    "faq/coverage_after": ("常见问题：退保后还保不保", "退了之后还有没有保障"),
    "faq/find_policy_number": ("常见问题：保单号在哪看", "保单号在哪里看"),
    "cancel_auto_renewal": ("取消自动续费", "怎么关闭自动续费"),
}
# Where the conversation stands as the agent reads it, from the ``stage`` slot: every value of
# domain.yml has its words (tests/console/test_labels.py), and an unknown one reads as 进行中.
STAGE_TEXT = {
    None: "进行中",
    Stage.VERIFIED: "身份已验证",
    Stage.QUOTE_READY: "已报价，等待用户确认",
    Stage.SUBMITTED: "退保申请已提交",
    Stage.NOT_ELIGIBLE: "保险公司不予受理",
    Stage.CASE_SHOWN: "已告知案件进度",
    Stage.WITHDRAW_READY: "等待确认撤销",
    Stage.WITHDRAWN: "申请已撤销",
    Stage.LOCKED: "身份验证已锁定",
    Stage.INSURER_DOWN: "保险公司系统无响应",
    Stage.REVERIFY: "验证已过期，需重新验证",
    Stage.CASE_NOT_FOUND: "没查到用户说的案件",
    Stage.POLICIES_FOUND: "已按手机号查到保单，等用户选择",
    Stage.ERASURE_VERIFY: "要求删除信息，正在验证身份",
    Stage.CONFIRM_ERASURE: "要求删除信息，等待用户确认",
    Stage.LOOKUP_WANTED: "不知道保单号，改用手机号查找保单",
}
# What the NLU says when it understood nothing (the review page's "机器人理解为" column).
NOT_UNDERSTOOD = {"nlu_fallback": "没听懂"}


def insurer_names(root: Path) -> Dict[str, str]:
    """insurer id -> the name users see (insurers.yml ``display_name``)."""
    path = root / "insurers.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError:
        return {}
    return {entry["id"]: entry.get("display_name") or entry["id"]
            for entry in data.get("insurers") or [] if isinstance(entry, dict) and "id" in entry}


def described_labels(root: Path, choices: Dict[str, str]) -> Dict[str, Dict[str, Optional[str]]]:
    """Every label choice (``intent -> core | insurer id``) with its Chinese name, one example
    from the training data and, for an insurer's own intent, the insurer's name."""
    from training.lint import load_project

    examples: Dict[str, list] = {}
    for example in load_project(root).examples:
        examples.setdefault(example.intent, []).append(example.text)
    insurers = insurer_names(root)
    described = {}
    for intent, owner in choices.items():
        name, preferred = INTENT_NAMES.get(intent, (None, None))
        own = examples.get(intent) or []
        short = [text for text in own if 2 <= len(text) <= 16 and "*" not in text]
        example = preferred if preferred in own else (short or own or [None])[0]
        described[intent] = {"name": name, "example": example,
                             "insurer": None if owner == "core" else insurers.get(owner, owner)}
    return described
