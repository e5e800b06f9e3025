"""The one redaction module: every way a user writes an identifier is masked, in free text,
structured values and log records (the probe's 一三八零零一三八零零零 went to the log verbatim)."""
from __future__ import annotations

import io
import logging

import pytest

from redaction import mask_policy_number, redact, redact_value, register_secret
from redaction.logs import RedactingFilter, install

ID_NUMBER = "11010519491231002X"
PHONE = "13800138000"
TOKEN = "Zk3v-8Qm_2LpR7sT1uVw9xYa0bCdEfGhIjKlMnOpQrS"

# (what the user wrote, fragments that must not survive)
WRITTEN = [
    ("我的手机是一三八零零一三八零零零", ["一三八零零一三八零零零", "0013", "13800138000"]),
    ("手机 一 三 八 零 零 一 三 八 零 零 零", ["零 一 三 八", "13800138000"]),
    ("手机１３８００１３８０００", ["１３８００１３８０００", "0013"]),
    ("电话 138-0013-8000", ["0013"]),
    ("身份证号一一零一零五一九四九一二三一零零二叉", ["一九四九", "1949", "31002"]),
    ("身份证 110105 19491231 002X", ["19491231", "002X"]),
    ("身份证１１０１０５１９４９１２３１００２Ｘ", ["１９４９", "1949"]),
    ("后六位 ３１００２Ｘ", ["３１００２Ｘ", "31002X"]),
    ("后六位 3 1 0 0 2 X", ["3 1 0 0 2 X"]),
    ("后六位三幺零零两叉", ["三幺零零两", "31002"]),
    ("验证码 四八二九一三", ["四八二九一三", "482913"]),
    ("验证码 ４８２９１３", ["４８２９１３"]),
    ("验证码 48 29 13", ["48 29 13"]),
    ("退到卡 6225-8801-2345-6789", ["6225", "8801-2345"]),
    # A card grouped so that its first six digits read as a code: the rest is masked too.
    ("卡号 622588 0123456789", ["0123456789", "01234"]),
    ("卡号 622 588 012 345 6789", ["012 345", "588"]),
    ("卡号 622588 01234 56789", ["01234", "5678"]),
    # Next to the readable numbers below, the personal ones are still masked.
    ("热线400-000-0000，我手机一三八零零一三八零零零", ["一三八零零一三八零零零", "0013"]),
    ("身份证尾号002X", ["002X"]),
    ("身份证号码尾号1234", ["1234"]),
    ("验证码尾号4829", ["4829"]),
    ("尾号31002X", ["31002X"]),
    ("卡号 4001234567890123", ["40012345"]),
    # A card glued to letters or Chinese, before or after.
    ("card6222021234567890123", ["6222021234567890123", "62220212"]),
    ("6222021234567890123abc", ["6222021234567890123", "62220212"]),
    ("卡号6222021234567890123", ["6222021234567890123", "62220212"]),
    ("退到6225880123456789这张卡", ["6225880123456789", "622588"]),
    ("No.6225880123456789", ["6225880123456789", "622588"]),
    ("card6225 8801 2345 6789", ["6225 8801", "8801 2345"]),
    ("卡ｃａｒｄ６２２５８８０１２３４５６７８９ａｂｃ", ["６２２５８８０１２３４５", "622588"]),
    ("RG13800138000", ["0013"]),
    (f"Authorization: Bearer {TOKEN}", [TOKEN]),
    (f"{{'token': '{TOKEN}', 'policy_number': 'SBX1000000000012'}}", [TOKEN]),
    (f"GET /cgi-bin/menu/get?access_token={TOKEN}&x=1", [TOKEN]),
]


@pytest.mark.parametrize("text,clear", WRITTEN)
def test_every_written_form_is_masked(text, clear):
    out = redact(text)
    for fragment in clear:
        assert fragment not in out, (text, out)


def test_policy_and_case_numbers_stay_readable_and_the_mask_is_stable():
    text = "保单号SBX1000000000012，案件TB20261125000001，退款¥47.19，2026年12月1日到账"
    assert redact(text) == text
    assert redact(redact("手机一三八零零一三八零零零")) == redact("手机一三八零零一三八零零零")
    assert "138****8000" in redact("手机一三八零零一三八零零零")
    assert mask_policy_number("SBX1000000000012") == "SBX1********0012"


@pytest.mark.parametrize("text, masked", [
    ("card6222021234567890123", "card***************0123"),
    ("6222021234567890123abc", "***************0123abc"),
    ("卡号card6225880123456789谢谢", "卡号card************6789谢谢"),
])
def test_a_card_glued_to_letters_keeps_its_last_four_and_the_words_around_it(text, masked):
    assert redact(text) == masked


@pytest.mark.parametrize("text, masked", [
    # A confidence is not a card, glued to letters or not.
    ('{"confidence": 0.999999999998149, "text": "card6225880123456789"}',
     '{"confidence": 0.999999999998149, "text": "card************6789"}'),
    ("intent0.999999999998149", "intent0.999999999998149"),
    # Policy and case numbers stay readable, and what follows them is read as what it is.
    ("SBX1000000000012 31002X", "SBX1000000000012 ******"),
    ("TB20261125000001，SBX2000000000035，HXC202612010001", None),
    ("保单SBX1000000000012卡号card6225880123456789", "保单SBX1000000000012卡号card************6789"),
    # ID numbers glued to letters are masked as ID numbers (first two and last kept), not as
    # cards (which would show the last four, 002X / 0021).
    ("ID11010519491231002X", "ID11***************X"),
    ("idcard110105194912310021abc", "idcard11***************1abc"),
])
def test_what_is_not_a_card_is_not_masked_as_one(text, masked):
    assert redact(text) == (text if masked is None else masked)


@pytest.mark.parametrize("text", [
    "已为您登记转人工（登记号 RG000001）",  # the desk's own reference
    "登记号ＲＧ０００１２３",
    "也可以直接拨打保险公司客服热线 400-000-0000",  # service hotlines name no person
    "热线 400 123 4567 或 800-820-8820",
    "热线四零零零零零零零零零",
    "退款到招商银行 尾号6789",  # the insurer's own masked account
    "案件号 HXC202612010001，保单 HX-2026-0000-0121",
])
def test_service_numbers_references_and_masked_tails_stay_readable(text):
    assert redact(text) == text


def test_an_agent_reads_the_bots_references_and_hotline_but_not_the_users_phone():
    from console.transcript import tracker_turns

    turns = tracker_turns({"events": [
        {"event": "user", "text": "我手机13800138000，转人工", "timestamp": 1.0},
        {"event": "bot", "text": "已为您登记转人工（登记号 RG000007），热线 400-000-0000，"
                                 "退款将打到招商银行 尾号6789", "timestamp": 2.0},
    ]})
    assert "13800138000" not in turns[0]["text"] and "138****8000" in turns[0]["text"]
    assert "RG000007" in turns[1]["text"] and "400-000-0000" in turns[1]["text"]
    assert "尾号6789" in turns[1]["text"]


def test_structured_values_mask_secret_keys_and_identifiers():
    value = {"holder_token": TOKEN, "events": [{"text": f"手机{PHONE}"}], "count": 3}
    out = redact_value(value)
    assert out["holder_token"] == "***" and PHONE not in str(out) and out["count"] == 3


def test_a_registered_secret_is_masked_without_its_label():
    secret = "q9Wn3rT7yU1iO5pA2sD8fG4hJ6kL0zXc"
    assert secret in redact(f"调用 {secret} 结束")
    register_secret(secret)
    assert secret not in redact(f"调用 {secret} 结束")


@pytest.fixture
def log_output():
    install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("tests.privacy.any_library")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_installed_factory_masks_messages_arguments_objects_and_tracebacks(log_output):
    logger, stream = log_output
    logger.info("received %s", "我的手机是一三八零零一三八零零零")
    logger.info("slots %s", {"id_suffix": "31002X", "holder_token": TOKEN})
    logger.debug(f"verbatim f-string 验证码 四八二九一三 and Bearer {TOKEN}")
    try:
        raise ValueError(f"bad id {ID_NUMBER}")
    except ValueError:
        logger.exception("failed for %s", "手机 138 0013 8000")
    text = stream.getvalue()
    for fragment in ("一三八零零一三八零零零", "31002X", TOKEN, "四八二九一三", ID_NUMBER, "0013"):
        assert fragment not in text, (fragment, text)
    assert "138****8000" in text and "ValueError" in text


def test_filter_keeps_plain_arguments_apart_for_access_log_formatters():
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5", "GET",
                               "/sandbox/sms?phone=13800138000", "1.1", 200), None)
    RedactingFilter().filter(record)
    assert isinstance(record.args, tuple) and len(record.args) == 5
    assert "13800138000" not in record.getMessage() and "138****8000" in record.getMessage()


def test_the_leak_finder_sees_every_written_form_so_a_clean_scan_means_something():
    from tests.privacy.leaks import find_leaks

    secrets = {"phone": PHONE, "suffix": "31002X", "code": "482913"}
    for text in ("手机一三八零零一三八零零零", "手机 138 0013 8000", '"text": "\\u4e00\\u4e09\\u516b\\u96f6'
                 '\\u96f6\\u4e00\\u4e09\\u516b\\u96f6\\u96f6\\u96f6"', "后六位３１００２Ｘ",
                 "后六位三一零零二叉", "验证码 四 八 二 九 一 三"):
        assert find_leaks(text, secrets), text
    assert find_leaks(redact("手机一三八零零一三八零零零 后六位３１００２Ｘ 验证码四八二九一三"), secrets) == []
    assert find_leaks("port 54829134 ts 1764829130", {"code": "482913"}) == []


def test_structured_json_log_lines_with_unicode_escapes_are_read_before_masking(log_output):
    """Rasa's structured DEBUG logs are JSON with escaped non-ASCII: a full-width suffix arrives
    as \\uff13\\uff11…, a dictated phone as \\u4e00\\u4e09…"""
    import json

    logger, stream = log_output
    logger.debug(json.dumps({"parse_data_text": "３１００２Ｘ", "confidence": 0.999999999998149}))
    logger.debug(json.dumps({"text": "手机一三八零零一三八零零零"}))
    text = stream.getvalue()
    assert "\\uff13" not in text and "\\u4e00\\u4e09" not in text
    assert "31002X" not in text and "0.999999999998149" in text and "138****8000" in text


@pytest.mark.parametrize("text, masked", [
    ("1370013700", "137*******"),  # a mobile number one digit short, as typed
    ("我手机号1370013700收不到验证码", "我手机号137*******收不到验证码"),
    ("我手机一三七零零一三七零零收不到", "我手机137*******收不到"),
    ("137 0013 700", "137*******"),
])
def test_a_mobile_number_one_digit_short_is_masked_too(text, masked):
    assert redact(text) == masked


@pytest.mark.parametrize("text", [
    '"CreateTime": 1764835200', "<CreateTime>1764835200</CreateTime>",
    "timestamp=1764835200.123", "1764835200.5", "confidence 0.1370013700",
])
def test_unix_times_and_decimals_are_not_short_phones(text):
    assert redact(text) == text
def test_the_leak_finder_is_independent_of_the_redactor_it_checks():
    """A detector built on the product's own reading of identifiers would share its blind
    spots: tests/privacy/leaks.py imports no product module."""
    import ast
    from pathlib import Path

    source = (Path(__file__).parent / "leaks.py").read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "re", "unicodedata", "typing"}, imported


def test_registered_secrets_of_any_shape_are_masked_wherever_they_stand():
    urlsafe = "Zq0_-Lk3mN8pQr5sT2uV7wX1yA4bC6dE9fG0hJ2kL3m"  # token_urlsafe(32)
    dotted = "eyJhbGciOi.J9x.Kp2"                           # another insurer's shape
    short = "a1b2c3d4"                                      # the shortest kept: 8
    for secret in (urlsafe, dotted, short):
        register_secret(secret)
    line = (f"GET /policies?token={urlsafe}&x=1 {dotted}{short} 令牌:{short}。"
            f"'{urlsafe}' {urlsafe[:-1]}")
    out = redact(line)
    assert urlsafe not in out and dotted not in out and short not in out, out
    assert out.count("***") == 5, out
    assert urlsafe[:-1] in out  # one character short is not the token
    assert redact("没有令牌的一句话") == "没有令牌的一句话"


def test_the_oldest_registered_secret_is_forgotten_beyond_the_limit(monkeypatch):
    import redaction

    from collections import OrderedDict

    monkeypatch.setattr(redaction, "_REGISTERED_LIMIT", 2)
    monkeypatch.setattr(redaction, "_registered", OrderedDict())
    monkeypatch.setattr(redaction, "_registered_length_counts", {})
    monkeypatch.setattr(redaction, "_registered_chars", set())
    monkeypatch.setattr(redaction, "_registered_runs", None)
    monkeypatch.setattr(redaction, "_registered_lengths", ())
    first, second, third = "alpha-first-onex", "bravo-second-two", "charlie-third-three"
    for secret in (first, second, third):
        register_secret(secret)
    out = redact(f"{first} {second} {third}")
    assert out == f"{first} *** ***", out  # two tokens side by side: each masked, the space kept


def test_registered_secrets_are_masked_as_one_pattern_of_them_all_would(monkeypatch):
    """Against the former way (one alternation of every token, longest first) on texts made of
    tokens, their pieces, overlaps and other words, side by side."""
    import random
    import re
    from collections import OrderedDict

    import redaction

    for name, value in (("_registered", OrderedDict()), ("_registered_length_counts", {}),
                        ("_registered_chars", set()), ("_registered_runs", None),
                        ("_registered_lengths", ())):
        monkeypatch.setattr(redaction, name, value)
    draw = random.Random(23)
    alphabet = "abcdefghijkLMNOPQRSTUVWXYZ-_.~"
    tokens = ["".join(draw.choice(alphabet) for _ in range(draw.randint(8, 44))) for _ in range(60)]
    tokens += [tokens[0] + tokens[1], tokens[2][:-1]]  # one made of two, one a token's prefix
    for token in tokens:
        redaction.register_secret(token)
    pattern = re.compile("|".join(re.escape(t) for t in sorted(set(tokens), key=len, reverse=True)))
    pieces = tokens + [t[3:] for t in tokens[:10]] + ["退保", " ", "=", "abc", "&", "令牌："]
    for _ in range(300):
        text = "".join(draw.choice(pieces) for _ in range(draw.randint(1, 8)))
        assert redaction._mask_registered(text) == pattern.sub("***", text), text


def _every_text_we_know():
    """Every training example and test conversation line of the project, and these tests'
    own texts: what users write, digits or not."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    texts = [written for written, _ in WRITTEN]
    for path in [*sorted((root / "nlu").glob("*.yml")),
                 *sorted((root / "tests" / "conversations").glob("*.yml"))]:
        for line in path.read_text(encoding="utf-8").splitlines():
            found = re.match(r"\s*-\s*(?:user:\s*)?\|?\s*(.+)$", line)
            if found:
                texts.append(re.sub(r"\[([^\]]*)\]\{[^}]*\}|\[([^\]]*)\]\([^)]*\)",
                                    lambda m: m.group(1) or m.group(2), found.group(1)))
    return texts


def test_a_text_without_digits_is_read_exactly_as_before(monkeypatch):
    """redact() skips the reading of identifiers in a text with no digit of any script (most
    log arguments): every text the project knows reads the same with the skip and without it,
    and no text with a digit is skipped."""
    import redaction

    texts = _every_text_we_know()
    quick = [redact(text) for text in texts]
    monkeypatch.setattr(redaction, "may_hold_identifier", lambda text: True)
    assert [redact(text) for text in texts] == quick
    from ground.identifiers import may_hold_identifier

    skipped = [text for text in texts if not may_hold_identifier(text)]
    assert len(texts) > 1000 and 0 < len(skipped) < len(texts)
    assert not any(ch.isdigit() for text in skipped for ch in text)
    assert not any(ch in "零〇一幺二两三四五六七八九洞拐勾壹贰叁肆伍陆柒捌玖"
                   for text in skipped for ch in text)
