"""Which policy is meant, when the holder lookup put several in play (issue 19.2).

After the lookup lists the holder's policies, "我要退保" or "那医疗险SBX那张还是要退" must not
re-quote whichever policy was quoted last: the words choose one (by product, insurer, the
number's prefix or its last digits, or its place in the list, as people say it: 医疗险, 意外险,
恒信, 尾号0012, 第二张), or the bot asks which.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

# Product words people use, and the products they name (the product names come from the insurer).
PRODUCT_WORDS = ("医疗", "意外", "重疾", "旅行", "旅游", "寿险", "年金", "车险", "财产", "宠物", "养老",
                 "教育", "定期", "终身", "百万", "一年期")
_ALIASES = {"旅游": "旅行"}
_ORDINALS = {"第一": 1, "第1": 1, "第二": 2, "第2": 2, "第三": 3, "第3": 3, "第四": 4, "第4": 4,
             "第五": 5, "第5": 5}
_DIGITS = re.compile(r"\d{4,}")
_PREFIX = re.compile(r"[A-Za-z]{2,3}")


def surrenderable(found: Optional[List[Dict[str, Any]]]) -> List[Dict[str, Any]]:
    """The policies the lookup listed that can still be surrendered, in the listed order."""
    return [p for p in found or [] if p.get("status") == "in_force"]


def _cues(text: str, policy: Dict[str, Any], index: int) -> Dict[str, bool]:
    """For each cue the words hold, whether ``policy`` fits it."""
    cues: Dict[str, bool] = {}
    product = policy.get("product_name") or ""
    for word in PRODUCT_WORDS:
        if word in text:
            cues[f"product:{word}"] = _ALIASES.get(word, word) in product
    insurer = policy.get("insurer_name") or ""
    for name in {insurer, insurer[:2]} - {""}:
        if len(name) >= 2 and name in text:
            cues["insurer"] = True
    number = policy.get("policy_number") or ""
    for digits in _DIGITS.findall(text):
        cues[f"digits:{digits}"] = number.endswith(digits)
    for prefix in _PREFIX.findall(text):
        cues[f"prefix:{prefix.upper()}"] = number.upper().startswith(prefix.upper())
    for word, place in _ORDINALS.items():
        if word in text:
            cues[f"place:{place}"] = place == index
    return cues


def match_listed_policy(text: Optional[str], listed: List[Dict[str, Any]],
                        numbered: Optional[List[Dict[str, Any]]] = None) -> Optional[str]:
    """The one listed policy the words point at, or None (no cue, or several fit).

    ``numbered`` is the list as shown (places "第二张" count in it); ``listed`` the ones that may
    be chosen. An insurer named counts for the policies of that insurer only."""
    words = (text or "").strip()
    if not words or not listed:
        return None
    shown = numbered or listed
    per_policy = []
    all_cues: set = set()
    for policy in listed:
        place = next((i for i, p in enumerate(shown, start=1)
                      if p.get("policy_number") == policy.get("policy_number")), 0)
        cues = _cues(words, policy, place)
        per_policy.append((policy, cues))
        all_cues |= {name for name, fits in cues.items() if fits}
    if not all_cues:
        return None
    insurer_named = any(c.get("insurer") for _, c in per_policy)
    fitting = [p for p, cues in per_policy
               if all(cues.get(name, False) for name in all_cues if name != "insurer")
               and (not insurer_named or cues.get("insurer"))
               and any(cues.values())]
    # A cue that fits no policy at all ("SBX" typed for the sandbox's policies, fine; "重疾"
    # where none is listed) was not counted above; several fitting is not a choice.
    return fitting[0]["policy_number"] if len(fitting) == 1 else None


def choice_buttons(listed: List[Dict[str, Any]]) -> List[Dict[str, str]]:
    """One button per policy: its product, insurer and the number's last four digits."""
    return [{"title": f"{p['product_name']} 尾号{p['policy_number'][-4:]}（{p['insurer_name']}）",
             # the number itself: read by the identifier extractor, whatever the classifier says
             "payload": f"退保 {p['product_name']} {p['policy_number']}"} for p in listed]


def choice_lines(listed: List[Dict[str, Any]]) -> str:
    return "\n".join(f"· {p['product_name']}，{p['insurer_name']}，尾号{p['policy_number'][-4:]}"
                     for p in listed)
