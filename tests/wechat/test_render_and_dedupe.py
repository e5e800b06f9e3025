"""What a user reads (one text per turn, tappable choices, nothing cut mid-character, a
passive reply within WeChat's size) and the store's promises across processes (real Redis):
deliveries, late answers and the push state every replica must agree on."""
from __future__ import annotations

import asyncio

import pytest

from connectors.wechat.channel import MORE_TO_COLLECT
from connectors.wechat.dedupe import MemoryDedupeStore, RedisDedupeStore, delivery_key
from connectors.wechat.render import MAX_TEXT_BYTES, fit_passive_reply, render_turn, \
    split_for_wechat
from harness.stack import REDIS_URL


def test_a_turn_is_one_text_with_tappable_choices():
    text = render_turn([
        {"text": "实际退款：¥47.19"},
        {"text": "确认要退保吗？", "buttons": [{"title": "确认", "payload": "确认"},
                                             {"title": "不退了", "payload": "/deny"}]},
    ])
    assert text.startswith("实际退款：¥47.19\n\n确认要退保吗？")
    assert '<a href="weixin://bizmsgmenu?msgmenucontent=确认&msgmenuid=1">确认</a>' in text
    assert '<a href="weixin://bizmsgmenu?msgmenucontent=/deny&msgmenuid=2">不退了</a>' in text


def test_split_only_past_2048_bytes_and_never_inside_a_character_or_link():
    short = "退" * 682  # 2046 bytes
    assert split_for_wechat(short) == [short]
    link = '<a href="weixin://bizmsgmenu?msgmenucontent=确认&msgmenuid=1">确认</a>'
    long_text = "保" * 2000 + link
    pieces = split_for_wechat(long_text)
    assert "".join(pieces) == long_text
    assert all(len(p.encode("utf-8")) <= 2048 for p in pieces)
    assert any(link in p for p in pieces)


def test_a_passive_reply_longer_than_wechat_allows_keeps_the_rest_for_later():
    quote = "\n".join(f"第{i}项：" + "退保金额与到账时间说明" * 6 for i in range(30))
    assert len(quote.encode("utf-8")) > 2 * MAX_TEXT_BYTES
    passive, rest = fit_passive_reply(quote, MORE_TO_COLLECT)
    assert len(passive.encode("utf-8")) <= MAX_TEXT_BYTES
    assert passive.endswith("\n\n" + MORE_TO_COLLECT)
    assert passive[:-len(MORE_TO_COLLECT) - 2] + "\n" + rest == quote  # nothing lost
    assert fit_passive_reply("实际退款：¥47.19", MORE_TO_COLLECT) == ("实际退款：¥47.19", "")


@pytest.mark.parametrize("where", ["redis", "memory"])
def test_two_store_instances_agree_on_push_state(where, redis_prefix):
    """What one replica learnt from WeChat's refusals, the other honours (Redis); memory is one
    process's view with the same rules."""

    async def scenario():
        if where == "redis":
            one, other = (RedisDedupeStore(REDIS_URL, prefix=redis_prefix) for _ in range(2))
        else:
            one = other = MemoryDedupeStore()
        try:
            await one.close_window("oAlice")  # 45047 for Alice
            closed = (await other.window_closed("oAlice"), await other.window_closed("oBob"))
            await other.reopen_window("oAlice")  # Alice wrote, to the other replica
            reopened = await one.window_closed("oAlice")
            await one.back_off(0.3)  # 45011: the whole account waits
            during = await other.backing_off()
            await asyncio.sleep(0.5)
            after = await other.backing_off()
            return closed, reopened, during, after
        finally:
            await one.close()
            await other.close()

    assert asyncio.run(scenario()) == ((True, False), False, True, False)


def test_redis_store_lets_exactly_one_process_claim_a_delivery(redis_prefix):
    prefix = redis_prefix
    key = delivery_key(("msg", "oUser", "4242"))

    async def scenario():
        stores = [RedisDedupeStore(REDIS_URL, prefix=prefix) for _ in range(5)]
        try:
            claims = await asyncio.gather(*(s.claim(key, ttl_s=30) for s in stores))
            await stores[0].put_result(key, "请发一下保单号", ttl_s=30)
            seen = await stores[4].get_result(key)
            await stores[1].add_late_answer("oUser", "迟到的答案", ttl_s=30)
            late = await stores[2].take_late_answers("oUser")
            again = await stores[3].take_late_answers("oUser")
            return claims, seen, late, again
        finally:
            for store in stores:
                await store.close()

    claims, seen, late, again = asyncio.run(scenario())
    assert sorted(claims) == [False, False, False, False, True]
    assert seen == "请发一下保单号"
    assert (late, again) == (["迟到的答案"], [])


def test_event_keys_differ_from_message_keys_and_between_users():
    assert delivery_key(("msg", "oA", "1")) != delivery_key(("msg", "oB", "1"))
    assert delivery_key(("event", "oA", "1700000000", "click", "SURRENDER")) != \
        delivery_key(("event", "oA", "1700000000", "click", "HUMAN"))
    store = MemoryDedupeStore()
    assert asyncio.run(store.claim("k")) and not asyncio.run(store.claim("k"))
