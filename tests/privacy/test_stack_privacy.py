"""Over the real stack (simulator, Rasa with the WeChat channel and the redacting tracker
store, action server, sandbox insurer, Redis), on a SQLite and on a fresh PostgreSQL tracker
store, with Rasa and the action server logging at DEBUG:

- after complete surrenders where the ID suffix, SMS code, phone, whole ID number and bank card
  are typed as digits, full-width, spaced, dashed and dictated in Chinese numerals, no row of the
  tracker store, the handoff store, the credentials store or the connector's Redis state, no
  tracker API answer and no log file this stack wrote holds any of them, nor the insurer's
  bearer token, in clear;
- "我的信息你们存了什么" lists what is kept, masked; "删除我的信息" (identity check first where
  the holder is not verified, then a confirmation) leaves nothing of the conversation in the
  stores the project owns.

The insurer's own database (the sandbox's) holds the holder's data by design and is not ours.
Needs the trained model (`.venv/bin/python -m bot.model train`).
"""
from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import redis
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

from privacy.credentials import CredentialStore
from tests.privacy.conftest import postgres_database
from tests.privacy.leaks import scan
from harness.services import ROOT
from harness.stack import REDIS_URL, Stack, tuibao_stack
from harness.wechat_caller import WeChatCaller, new_openid, voice_xml

CREDENTIALS_KEY = Fernet.generate_key().decode()
CN = dict(zip("0123456789", "零一二三四五六七八九"))
FULL = {c: chr(ord(c) + 0xFEE0) for c in "0123456789X"}

# Seed policies (../shared/spec/sandbox-insurer.md): number, ID number, phone.
POLICY_1 = ("SBX1000000000012", "11010519491231002X", "13800138000")  # 张伟
POLICY_2 = ("SBX1000000000023", "440106199003150028", "13900139000")  # 李娜
POLICY_3 = ("SBX2000000000035", "11010519491231002X", "13800138000")  # 张伟, cooling-off
BANK_CARD = "6225880123456789"


def chinese(digits: str) -> str:
    return "".join(CN.get(c, "叉" if c == "X" else c) for c in digits)


def full_width(text: str) -> str:
    return "".join(FULL.get(c, c) for c in text)


@dataclass
class PrivacyStack:
    stack: Stack
    backend: str
    tracker_url: str
    log_label: str
    wechat: WeChatCaller

    @property
    def work_dir(self) -> Path:
        return self.stack.work_dir

    def credentials(self) -> CredentialStore:
        return CredentialStore(f"sqlite:///{self.work_dir / 'credentials.db'}", CREDENTIALS_KEY)

    def rows(self, url: str, table: str, where: str = "", **params) -> List[str]:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                if not sa.inspect(conn).has_table(table):
                    return []
                query = f"SELECT * FROM {table}" + (f" WHERE {where}" if where else "")
                return [json.dumps([str(v) for v in row], ensure_ascii=False)
                        for row in conn.execute(sa.text(query), params)]
        finally:
            engine.dispose()

    def tracker_rows(self, sender_id: str = "") -> List[str]:
        if sender_id:
            return self.rows(self.tracker_url, "events", "sender_id = :s", s=sender_id)
        return self.rows(self.tracker_url, "events")

    HANDOFF_TABLES = ("handoff_chats", "handoff_turns", "handoff_feed")

    def handoff_rows(self, conversation_id: str = "", tables=HANDOFF_TABLES) -> List[str]:
        """Rows of the handoff package's tables naming the conversation (all rows, and the
        audit log's, when none is given)."""
        url = f"sqlite:///{self.work_dir / 'handoff.db'}"
        if conversation_id:
            return [row for table in tables
                    for row in self.rows(url, table, "conversation_id = :c", c=conversation_id)]
        return [row for table in (*tables, "audit_log") for row in self.rows(url, table)]

    def redis_entries(self) -> Dict[str, str]:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=5, decode_responses=True)
        try:
            entries = {}
            for key in client.scan_iter(match=f"{self.stack.wechat_env['WECHAT_REDIS_PREFIX']}:*"):
                kind = client.type(key)
                value = (client.get(key) if kind == "string" else
                         json.dumps(client.lrange(key, 0, -1), ensure_ascii=False) if kind == "list"
                         else json.dumps(client.hgetall(key), ensure_ascii=False) if kind == "hash"
                         else kind)
                entries[key] = value or ""
            return entries
        finally:
            client.close()

    def log_texts(self) -> Dict[str, str]:
        return {path.name: path.read_text(encoding="utf-8", errors="replace")
                for path in sorted((ROOT / ".test-logs").glob(f"{self.log_label}-*.log"))}

    def turn(self, openid: str, text: str = "", voice: str = "", tap_in: str = "") -> str:
        """One message (text, voice with WeChat's recognition, or a tap on the choice labelled
        ``text`` in the earlier reply ``tap_in``); the passive reply, or the late answer pushed
        through the customer-service API."""
        pushed_before = len(self.stack.outbox(openid))
        delivery = (self.wechat.send(voice_xml(openid, voice)) if voice
                    else self.wechat.tap(openid, tap_in, text) if tap_in
                    else self.wechat.say(openid, text))
        assert delivery.status == 200, (text or voice, delivery)
        if delivery.reply_text:
            return delivery.reply_text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pushed = self.stack.outbox(openid)[pushed_before:]
            if pushed:
                return "\n".join(str(m.get("content") if not isinstance(m.get("content"), dict)
                                     else m["content"].get("content", "")) for m in pushed)
            time.sleep(0.3)
        raise AssertionError(f"no answer to {text or voice!r}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def privacy_stack(request, tmp_path_factory) -> Iterator[PrivacyStack]:
    work = tmp_path_factory.mktemp(f"privacy-{request.param}")
    label = f"privacy-{request.param}-{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as running:
        if request.param == "sqlite":
            tracker_url = f"sqlite:///{work / 'tracker.db'}"
            tracker = {"type": "bot.tracker_store.RedactingSQLTrackerStore", "dialect": "sqlite",
                       "db": str(work / "tracker.db")}
        else:
            tracker_url = running.enter_context(postgres_database("privacy_stack"))
            tracker = {"type": "bot.tracker_store.RedactingSQLTrackerStore",
                       "dialect": "postgresql", "url": "127.0.0.1", "port": 5432,
                       "db": tracker_url.rsplit("/", 1)[1], "username": "postgres"}
        stack = running.enter_context(tuibao_stack(
            work, tracker_store=tracker, extra_env={"TUIBAO_CREDENTIALS_KEY": CREDENTIALS_KEY},
            debug_logs=True, log_prefix=label))
        yield PrivacyStack(stack, request.param, tracker_url, label, WeChatCaller(stack.webhook_url))


def test_complete_surrenders_leave_no_personal_data_or_token_in_clear(privacy_stack):
    ps = privacy_stack
    first, second = new_openid(), new_openid()
    code_1 = _verify(ps, first, POLICY_1, suffix=full_width("31002X"),
                     code_as=lambda code: f"验证码 {chinese(code)}")
    submitted_1 = ps.turn(first, "确认")
    assert "TB2026" in submitted_1, submitted_1
    code_2 = _verify(ps, second, POLICY_2, suffix=f"voice:身份证后六位{chinese('150028')}",
                     code_as=lambda code: " ".join(code))
    submitted_2 = ps.turn(second, "确认")
    assert "TB2026" in submitted_2, submitted_2
    # Personal data in free text, spaced, dashed, full-width and dictated, and a handoff.
    ps.turn(first, "我手机是一三八 零零一三 八零零零，身份证 110105 19491231 002X，卡号 6225-8801-2345-6789")
    # (the pinned model reads "我要投诉，手机13800138000一直收不到验证码" as complain at 0.60, under
    # the fallback threshold: a known limit of complaints that carry a phone, docs/nlu.md)
    handoff = ps.turn(first, "我要投诉你们，手机号13800138000收不到验证码")
    assert "RG" in handoff, handoff
    ps.turn(second, voice=f"我的手机号码是{chinese('13900139000')}，身份证号{chinese('440106199003150028')}")
    # A phone sent alone outside any form starts the holder lookup with it (issue 19.6): it is
    # kept sealed in the credentials store for the message with the ID suffix, never in clear.
    assert "查名下的保单" in ps.turn(second, full_width("13900139000"))

    tokens = {f"token_{i}": ps.credentials().get(openid).token
              for i, openid in enumerate((first, second), start=1)}
    secrets = {
        "id_number_1": POLICY_1[1], "id_number_2": POLICY_2[1],
        "id_suffix_1": POLICY_1[1][-6:], "id_suffix_2": POLICY_2[1][-6:],
        "phone_1": POLICY_1[2], "phone_2": POLICY_2[2],
        "sms_code_1": code_1, "sms_code_2": code_2, "bank_card": BANK_CARD, **tokens,
    }
    tracker_api = [json.dumps(ps.stack.tracker(openid), ensure_ascii=False) for openid in (first, second)]
    sources = {
        "tracker store": ps.tracker_rows(),
        "tracker API": tracker_api,
        "handoff store": ps.handoff_rows(),
        "credentials store": ps.rows(f"sqlite:///{ps.work_dir / 'credentials.db'}", "holder_credentials"),
        "connector state (Redis)": [f"{k} {v}" for k, v in ps.redis_entries().items()],
        **{f"log {name}": [text] for name, text in ps.log_texts().items()},
    }
    # The scan is meaningful: every store and log has content, and the user's turns are there.
    assert len(sources["tracker store"]) > 40
    assert len(ps.handoff_rows(first, tables=("handoff_chats",))) == 1
    # Per user: the sealed token and which challenge gave it (a lost turn's re-run, issue 20);
    # and the second user's phone, held sealed for the lookup it started.
    purposes = sorted(json.loads(row)[1] for row in sources["credentials store"])
    assert purposes == ["held:exchanged_challenge"] * 2 + ["held:lookup_phone"] + ["holder"] * 2, purposes
    assert sources["connector state (Redis)"]
    logs = ps.log_texts()
    assert len(logs) == 4, list(logs)
    assert len(logs[f"{ps.log_label}-rasa.log"]) > 100_000 and len(logs[f"{ps.log_label}-actions.log"]) > 5_000
    assert "parse_data_text" in logs[f"{ps.log_label}-rasa.log"]  # the user's text is logged (masked)
    assert "138****8000" in "".join(sources["tracker store"])
    assert scan(sources, secrets) == {}


def _verify(ps: PrivacyStack, openid: str, policy, suffix: str, code_as) -> str:
    """Policy number, ID suffix (as written; ``voice:`` = dictated), SMS code (as written);
    returns the code. The quote is read back."""
    number, id_number, phone = policy
    assert "保单号" in ps.turn(openid, "我要退保")
    assert "身份证" in ps.turn(openid, number)
    answer = (ps.turn(openid, voice=suffix[len("voice:"):]) if suffix.startswith("voice:")
              else ps.turn(openid, suffix))
    assert phone[:3] + "****" + phone[-4:] in answer, answer
    code = ps.stack.sms_code(phone)
    quote = ps.turn(openid, code_as(code))
    assert "确认" in quote and "¥" in quote, quote
    return code


def test_what_is_kept_is_shown_masked_and_erasure_leaves_nothing_of_the_conversation(privacy_stack):
    ps = privacy_stack
    user, bystander = new_openid(), new_openid()
    _verify(ps, user, POLICY_3, suffix="31002X", code_as=lambda code: code)
    assert "TB2026" in ps.turn(user, "确认")
    assert "RG" in ps.turn(user, "转人工")
    assert "您好" in ps.turn(bystander, "你好")

    shown = ps.turn(user, "我的信息你们存了什么")
    for part in ("对话记录", "SBX2********0035", "身份验证凭证", "转人工登记", "保险公司的记录", "删除我的信息"):
        assert part in shown, (part, shown)
    assert POLICY_3[0] not in shown

    assert ps.tracker_rows(user) and ps.handoff_rows(user) and ps.credentials().get(user)
    ask = ps.turn(user, "删除我的信息")
    assert "确认要删除吗" in ask and "保险公司" in ask, ask
    assert ps.tracker_rows(user), "nothing may go before the confirmation"
    done = ps.turn(user, "确认")
    assert "已删除" in done and "转人工登记 1 条" in done and "身份验证凭证 1 个" in done, done

    assert ps.tracker_rows(user) == []
    assert ps.handoff_rows(user) == []
    assert ps.credentials().get(user) is None
    # Only the delivery record of the very message that asked remains (WeChat may retry it
    # within seconds; it expires within the hour and holds only the bot's reply).
    left = [key for key in ps.redis_entries() if user in key.split(":")]
    assert len({key.rsplit(":", 1)[-1] for key in left}) <= 1 and not any(":late:" in k for k in left)
    # Someone else's conversation is untouched; the user starts afresh.
    assert ps.tracker_rows(bystander)
    assert "您好" in ps.turn(user, "你好")
    assert "SBX2" not in json.dumps(ps.stack.tracker(user), ensure_ascii=False)


def test_erasure_where_a_policy_is_involved_asks_for_the_identity_check_first(privacy_stack):
    ps = privacy_stack
    user = new_openid()
    assert "保单号" in ps.turn(user, "我要退保")
    assert "身份证" in ps.turn(user, POLICY_1[0])
    first = ps.turn(user, "删除我的信息")
    assert "身份验证" in first and "后六位" in first, first
    assert "138****8000" in ps.turn(user, "31002X")
    confirm = ps.turn(user, ps.stack.sms_code(POLICY_1[2]))
    assert "确认要删除吗" in confirm, confirm
    assert "已删除" in ps.turn(user, "确认")
    assert ps.tracker_rows(user) == [] and ps.credentials().get(user) is None


def test_declining_the_erasure_deletes_nothing(privacy_stack):
    ps = privacy_stack
    user = new_openid()
    assert "您好" in ps.turn(user, "你好")
    prompt = ps.turn(user, "把我的信息删掉")
    assert "确认要删除吗" in prompt
    # The confirmation's own 取消 button, tapped; typed answers: the test below.
    assert "没有删除" in ps.turn(user, "取消", tap_in=prompt)
    assert ps.tracker_rows(user)


def test_typed_answers_at_the_erasure_prompt_keep_or_erase_as_said(privacy_stack):
    """取消 / 算了 / 不删了 / 先不要 keep everything, a goodbye is asked again, 删吧 / 确认删除 /
    好的 erase (read from the words by action_read_confirmation, whatever the NLU made of them)."""
    ps = privacy_stack
    user = new_openid()
    assert "您好" in ps.turn(user, "你好")
    for no in ("取消", "算了", "不删了", "先不要"):
        assert "确认要删除吗" in ps.turn(user, "删除我的信息")
        kept = ps.turn(user, no)
        assert "没有删除" in kept and "已删除" not in kept, (no, kept)
        assert ps.tracker_rows(user), no
    assert "确认要删除吗" in ps.turn(user, "删除我的信息")
    again = ps.turn(user, "拜拜")  # neither yes nor no: asked again, nothing goes, the chat stays
    assert "还没有删除" in again and "再见" not in again, again
    assert ps.tracker_rows(user)
    assert "已删除" in ps.turn(user, "删吧")
    assert ps.tracker_rows(user) == []
    for yes in ("确认删除", "好的"):
        other = new_openid()
        assert "您好" in ps.turn(other, "你好")
        assert "确认要删除吗" in ps.turn(other, "删除我的信息")
        assert "已删除" in ps.turn(other, yes), yes
        assert ps.tracker_rows(other) == []
