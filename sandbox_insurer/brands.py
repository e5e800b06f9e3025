"""The insurers this one service plays: the sandbox insurer itself and 恒信人寿 (spec addition 4).

Each has its own API key, policies and case numbers; a request made with one insurer's key never
sees another's policies or cases. The products and money rules are the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict


@dataclass(frozen=True)
class Brand:
    id: str  # stored on every policy (sbx_policies.insurer)
    sms_signature: str  # the 【…】 an SMS opens with
    case_prefix: str
    case_sequence_digits: int
    counter: str  # sbx_counters row numbering its cases

    def case_number(self, submitted_on, sequence: int) -> str:
        if sequence >= 10 ** self.case_sequence_digits:
            raise OverflowError(f"{self.id}: case sequence exhausted")
        return f"{self.case_prefix}{submitted_on:%Y%m%d}{sequence:0{self.case_sequence_digits}d}"


SANDBOX = Brand("sandbox", "沙箱保险", "TB", 6, "case_sequence")
HENGXIN = Brand("hengxin", "恒信人寿", "HXC", 4, "hengxin_case_sequence")
BRANDS: Dict[str, Brand] = {brand.id: brand for brand in (SANDBOX, HENGXIN)}

# What an SMS code is for: the text names it, so a code asked for by someone else stands out.
SMS_PURPOSES: Dict[str, str] = {
    "surrender": "办理退保",
    "status": "查询退保进度",
    "withdraw": "撤销退保申请",
    "lookup": "查找名下保单",
}


def sms_text(brand: Brand, purpose: str, code: str) -> str:
    return (f"【{brand.sms_signature}】您正在{SMS_PURPOSES[purpose]}，验证码 {code}，5分钟内有效。"
            "请勿泄露给他人。")
