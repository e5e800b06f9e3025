"""The choices offered to each WeChat user (menu id → words and payload), in Redis (shared by
every replica) and in memory (the single-process demo): ids of a user's own, never another
user's, bounded and expiring; and the render that puts only words in the links."""
from __future__ import annotations

import asyncio

import pytest

from connectors.wechat.dedupe import (CHOICES_KEPT, FIRST_CHOICE_ID, MemoryDedupeStore,
                                      RedisDedupeStore)
from connectors.wechat.render import offered_choices, render_turn
from harness.stack import REDIS_URL
from harness.wechat_caller import menu_choices

RATING = [{"title": "满意", "payload": '/rate_agent{"agent_rating": "good"}'},
          {"title": "不满意", "payload": '/rate_agent{"agent_rating": "bad"}'}]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("where", ["redis", "memory"])
def test_choices_are_each_users_own_bounded_and_shared(where, redis_prefix):
    async def scenario():
        if where == "redis":
            one, other = (RedisDedupeStore(REDIS_URL, prefix=redis_prefix) for _ in range(2))
        else:
            one = other = MemoryDedupeStore()
        try:
            first = await one.offer_choices("oAlice", [("确认", "/affirm"), ("不退了", "/deny")])
            second = await other.offer_choices("oAlice", [("满意", RATING[0]["payload"])])
            bob = await one.offer_choices("oBob", [("取消", "/deny")])
            found = (await other.offered_choice("oAlice", first[1]),
                     await one.offered_choice("oAlice", second[0]),
                     await one.offered_choice("oBob", first[1]),  # Alice's id, Bob asks
                     await one.offered_choice("oAlice", "1"),  # never offered
                     await one.offered_choice("oBob", bob[0]))
            # Many more offers: only the newest CHOICES_KEPT stay tappable.
            for _ in range(CHOICES_KEPT):
                await one.offer_choices("oAlice", [("确认", "/affirm")])
            pushed_out = await other.offered_choice("oAlice", first[0])
            return first, second, found, pushed_out
        finally:
            await one.close()
            if other is not one:
                await other.close()

    first, second, found, pushed_out = asyncio.run(scenario())
    assert int(first[0]) >= FIRST_CHOICE_ID and len(set(first + second)) == 3
    assert found == (("不退了", "/deny"), ("满意", RATING[0]["payload"]), None, None,
                     ("取消", "/deny"))
    assert pushed_out is None


def test_memory_choices_expire_and_stay_bounded_in_users():
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)

    async def scenario():
        [menu_id] = await store.offer_choices("oAlice", [("确认", "/affirm")], ttl_s=60)
        kept = await store.offered_choice("oAlice", menu_id)
        clock.now += 61
        return kept, await store.offered_choice("oAlice", menu_id)

    assert asyncio.run(scenario()) == (("确认", "/affirm"), None)


def test_links_carry_the_words_and_the_offered_ids():
    messages = [{"text": "请您评价", "buttons": RATING}]
    assert offered_choices(messages) == [(b["title"], b["payload"]) for b in RATING]
    text = render_turn(messages, ["1007", "1008"])
    links = menu_choices(text)
    assert [(c.label, c.content, c.menu_id) for c in links] == [
        ("满意", "满意", "1007"), ("不满意", "不满意", "1008")]
    assert "rate_agent" not in text
