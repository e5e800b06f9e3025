"""What the bot reads out of what people type or dictate: ground.identifiers."""
import pytest

from ground.identifiers import (
    find_identifiers,
    id_suffix,
    is_valid_case_number,
    is_valid_id_number,
    is_valid_phone_number,
    is_valid_policy_number,
    is_valid_sms_code,
    normalise,
    normalise_phone,
    policy_check_character,
)

SEED_POLICIES = ["SBX1000000000012", "SBX1000000000023", "SBX2000000000035",
                 "SBX2000000000046", "SBX1000000000056", "SBX3000000000069",
                 "SBX2000000000079", "SBX1000000000089"]
SEED_IDS = ["11010519491231002X", "440106199003150028", "34052419800101001X"]


def found(text):
    return sorted((s.entity, s.value, s.valid) for s in find_identifiers(text))


@pytest.mark.parametrize("policy", SEED_POLICIES)
def test_seed_policy_numbers_pass_their_check(policy):
    assert is_valid_policy_number(policy)
    assert policy_check_character(policy[3:15]) == policy[-1]


@pytest.mark.parametrize("typo", ["SBX1000000000013", "SBX1000000000021", "SBX100000000001",
                                  "SBX10000000000012", "SBX0100000000012"])
def test_policy_typos_fail_the_check(typo):
    assert not is_valid_policy_number(typo)


@pytest.mark.parametrize("id_number", SEED_IDS)
def test_seed_id_numbers_pass_gb11643(id_number):
    assert is_valid_id_number(id_number)
    assert is_valid_id_number(id_number.lower())


@pytest.mark.parametrize("bad", ["11010519491231002Y", "110105194912310021", "11010519491331002X",
                                 "11010519490230002X", "1101051949123100"])
def test_bad_id_numbers_fail(bad):
    assert not is_valid_id_number(bad)


@pytest.mark.parametrize("raw,expected", [
    ("ｓｂｘ１０００ ００００ ０００１ ２", "SBX1000000000012"),
    ("SBX-1000-0000-0001-2", "SBX1000000000012"),
    ("幺三八零零幺三八零零零", "13800138000"),
    ("一九零零二x", "19002X"),
    ("壹贰叁肆伍陆", "123456"),
    ("tb 2026 1125 000001", "TB20261125000001"),
])
def test_normalise(raw, expected):
    assert normalise(raw) == expected


@pytest.mark.parametrize("raw", ["+86 138 0013 8000", "0086-13800138000", "8613800138000",
                                 "１３８００１３８０００", "138-0013-8000"])
def test_phone_prefixes_and_separators(raw):
    assert normalise_phone(raw) == "13800138000"
    assert is_valid_phone_number(raw)


def test_phone_code_and_case_shapes():
    assert not is_valid_phone_number("12800138000")  # no 12x mobile prefix
    assert not is_valid_phone_number("1380013800")
    assert is_valid_sms_code("０１２３４５") and not is_valid_sms_code("12345")
    assert is_valid_case_number("TB20261125000001")
    assert not is_valid_case_number("TB20261325000001")  # month 13
    assert not is_valid_case_number("TB2026112500001")


def test_id_suffix_is_the_last_six():
    assert id_suffix("11010519491231002X") == "31002X"
    assert id_suffix("１９００２ｘ") == "19002X"
    assert id_suffix("002X") is None


@pytest.mark.parametrize("text,expected", [
    ("保单号SBX1000000000012", [("policy_number", "SBX1000000000012", True)]),
    ("保单号是 ＳＢＸ２００００００００００３５ 谢谢", [("policy_number", "SBX2000000000035", True)]),
    ("保单号 s b x 一零零零零零零零零零零一二", [("policy_number", "SBX1000000000012", True)]),
    ("保单号SBX1000000000013", [("policy_number", "SBX1000000000013", False)]),
    ("SBX100000000001 是这个", [("policy_number", "SBX100000000001", False)]),
    ("身份证号 110105 19491231 002x", [("id_number", "11010519491231002X", True)]),
    ("身份证幺幺零幺零五幺九四九幺二三幺零零二叉", [("id_number", "11010519491231002X", True)]),
    ("身份证后六位一九零零二叉", [("id_number", "19002X", True)]),
    ("后四位 002X", [("id_number", "002X", True)]),
    ("证件后六31002x", [("id_number", "31002X", True)]),
    ("身份证后六一五零零二八", [("id_number", "150028", True)]),
    ("验证码是五四三二一零", [("sms_code", "543210", True)]),
    ("code:８８２０１４", [("sms_code", "882014", True)]),
    ("123456是验证码", [("sms_code", "123456", True)]),
    ("150028是身份证后六位", [("id_number", "150028", True)]),
    ("我的手机 +86 139-0013-9000", [("phone_number", "13900139000", True)]),
    ("查一下 tb2026 1125 000001", [("case_number", "TB20261125000001", True)]),
    ("手机尾号8000", []),
    ("我2023年买的，交了2982.20元，退300块", []),
    ("我一一核对了两个保单，等了三四天", []),
    # Voice input runs a dictated number into the next word: 一直, 一下 are words, not digits.
    ("我要投诉，手机一三八零零一三八零零零一直收不到验证码", [("phone_number", "13800138000", True)]),
    ("幺三九 零零幺三 九零零零一下子就忘了", [("phone_number", "13900139000", True)]),
    ("验证码五四三二一零一定没错", [("sms_code", "543210", True)]),
])
def test_find_identifiers(text, expected):
    assert found(text) == sorted(expected)


def test_several_identifiers_in_one_message_are_taken_whole():
    text = "保单号sbx1000000000012，身份证后六位19002x 验证码 731205，手机13800138000"
    assert found(text) == sorted([
        ("policy_number", "SBX1000000000012", True), ("id_number", "19002X", True),
        ("sms_code", "731205", True), ("phone_number", "13800138000", True)])


def test_space_separated_identifiers_are_not_glued():
    assert found("SBX1000000000012 19002X 13800138000") == sorted([
        ("policy_number", "SBX1000000000012", True), ("id_number", "19002X", True),
        ("phone_number", "13800138000", True)])


def test_bare_six_digits_are_both_code_and_id_suffix_on_one_span():
    spans = find_identifiers("就是 482913 呀")
    assert {(s.entity, s.value) for s in spans} == {("sms_code", "482913"), ("id_number", "482913")}
    assert all(s.ambiguous for s in spans)
    assert len({(s.start, s.end) for s in spans}) == 1


def test_spans_point_at_the_original_text():
    text = "手机：１３８ ００１３ ８０００，谢谢"
    (span,) = find_identifiers(text)
    assert text[span.start:span.end] == "１３８ ００１３ ８０００"


@pytest.mark.parametrize("dash", ["-", "‐", "‑", "‒", "–", "—", "―", "−"])
def test_every_kind_of_dash_inside_a_policy_number_is_removed(dash):
    assert normalise(f"SBX{dash}1000{dash}0000{dash}0001{dash}2") == "SBX1000000000012"


@pytest.mark.parametrize("text", ["预计 2026-12-01 到账", "最晚2026/12/25", "2026年12月1日（2026-12-01）",
                                  "提交日期 2026-11-25"])
def test_dates_are_not_identifiers(text):
    assert find_identifiers(text) == []


@pytest.mark.parametrize("text,expected", [
    # what follows a policy number without a cue is the holder's ID suffix, even short
    ("sbx3000000000314 41621", [("policy_number", "SBX3000000000314"), ("id_number", "41621")]),
    ("SBX1000000000012，1234", [("policy_number", "SBX1000000000012"), ("id_number", "1234")]),
    # an amount after a policy number is not a suffix; a short number alone is nothing
    ("SBX1000000000012 2000元", [("policy_number", "SBX1000000000012")]),
    ("等了 4162 秒", []),
])
def test_a_short_number_right_after_a_policy_number_is_its_id_suffix(text, expected):
    assert [(s.entity, s.value) for s in find_identifiers(text)] == expected
