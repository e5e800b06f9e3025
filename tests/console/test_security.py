"""The console's security, over HTTP against the running console: no session → 401 on every
call (the list of calls is read from the app itself, so a new one cannot be forgotten), CSRF,
brute force, the same answer for unknown users, roles, and no unmasked ID number, phone or
bank card through any call."""
from __future__ import annotations

import re
import time

import pytest
import requests

from console.app import create_app
from console.settings import ConsoleSettings
from handoff.settings import HandoffSettings
from tests.console.support import ACCOUNTS, ConsoleClient, create_account, signed_in
from tests.console.test_handoff_over_wechat import SimUser

ID_NUMBER = "11010519491231002X"
PHONE = "13800138000"
BANK_CARD = "6225880112345678"


def api_routes():
    """(method, path) of every API call the console serves, from the app's own routing."""
    app = create_app(ConsoleSettings(handoff=HandoffSettings(db_url="sqlite://")))
    found = []
    for route in app.routes:
        path = getattr(route, "path", "")
        for method in sorted(getattr(route, "methods", None) or []):
            if path.startswith("/api/") and method != "HEAD":
                found.append((method, path.replace("{chat_id}", "oSomeone")))
    return found


ROUTES = api_routes()
CHANGING = [(m, p) for m, p in ROUTES if m in ("POST", "DELETE", "PUT", "PATCH")
            and not (m == "POST" and p == "/api/v1/session")]


def test_the_route_list_is_the_real_one():
    assert ("POST", "/api/v1/chats/oSomeone/take") in ROUTES
    assert ("GET", "/api/v1/stream") in ROUTES and len(ROUTES) >= 14


@pytest.mark.parametrize("method, path", [r for r in ROUTES if r != ("POST", "/api/v1/session")])
def test_every_call_without_a_session_is_refused(desk, method, path):
    answer = requests.request(method, f"{desk.console_url}{path}", json={"text": "x"},
                              timeout=10)
    assert answer.status_code == 401, (method, path, answer.status_code)


def test_the_console_page_needs_a_session(desk):
    answer = requests.get(f"{desk.console_url}/", allow_redirects=False, timeout=10)
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"
    signed = signed_in(desk.console_url, "agent1")
    page = signed.get("/")
    assert page.status_code == 200 and "人工客服台" in page.text


@pytest.mark.parametrize("method, path", CHANGING)
def test_every_state_change_without_the_csrf_token_is_refused(desk, method, path):
    client = signed_in(desk.console_url, "lead1")
    answer = client.http.request(method, f"{desk.console_url}{path}", json={"text": "x"},
                                 timeout=10)
    assert answer.status_code == 403, (method, path)
    wrong = client.http.request(method, f"{desk.console_url}{path}", json={"text": "x"},
                                headers={"X-CSRF-Token": "not-the-token"}, timeout=10)
    assert wrong.status_code == 403, (method, path)


def test_the_session_cookie_is_httponly_and_strict(desk):
    answer = requests.post(f"{desk.console_url}/api/v1/session",
                           json={"username": "agent1", "password": ACCOUNTS["agent1"][1]},
                           timeout=10)
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert answer.json()["user"] == {"name": "agent1", "role": "agent"}


def test_signing_out_ends_the_session(desk):
    client = signed_in(desk.console_url, "agent2")
    assert client.delete("/api/v1/session").status_code == 200
    assert client.get("/api/v1/chats").status_code == 401


def test_brute_force_locks_the_name_and_unknown_names_get_the_same_answer(desk):
    create_account(desk.handoff_db_url, "agent9", "agent", "tuibao-agent9-demo")
    client = ConsoleClient(desk.console_url)
    wrong = [client.sign_in("agent9", f"wrong-{n}") for n in range(5)]
    assert [w.status_code for w in wrong] == [401] * 5
    locked = client.sign_in("agent9", "tuibao-agent9-demo")  # right password, too late
    assert locked.status_code == 429 and locked.json()["retry_after_s"] > 0

    unknown = [client.sign_in("nobody-here", f"wrong-{n}") for n in range(6)]
    assert [u.status_code for u in unknown] == [401] * 5 + [429]
    assert unknown[0].json() == wrong[0].json()  # nothing tells a real name from a made-up one


def test_roles_agent_cannot_supervise_trainer_cannot_handle_chats(desk):
    agent, trainer = signed_in(desk.console_url, "agent1"), signed_in(desk.console_url, "trainer1")
    assert trainer.user["role"] == "trainer"
    for path in ("/api/v1/figures", "/api/v1/audit", "/api/v1/agents"):
        assert agent.get(path).status_code == 403, path
    assert agent.post("/api/v1/chats/oSomeone/assign", {"username": "agent2"}).status_code == 403
    for path in ("/api/v1/chats?state=waiting", "/api/v1/canned", "/api/v1/stream"):
        assert trainer.get(path).status_code == 403, path
    assert trainer.post("/api/v1/chats/oSomeone/take").status_code == 403


def test_a_conversation_that_never_asked_for_a_person_cannot_be_opened(desk):
    agent = signed_in(desk.console_url, "agent1")
    user = SimUser(desk)
    user.say("你好", "退保助手")
    assert agent.get(f"/api/v1/chats/{user.openid}").status_code == 404
    assert agent.post(f"/api/v1/chats/{user.openid}/take").status_code == 404


def _everything_an_agent_can_read(client: ConsoleClient, chat_id: str) -> str:
    texts = []
    for state in ("waiting", "mine", "all"):
        texts.append(client.get(f"/api/v1/chats?state={state}").text)
    texts.append(client.get(f"/api/v1/chats/{chat_id}").text)
    texts.append(client.get("/api/v1/canned").text)
    texts.append(client.get("/").text)
    chunks = []
    # The stream stays open: read what it sends for a while, until it falls silent.
    with client.http.get(f"{client.base_url}/api/v1/stream", params={"chat_id": chat_id},
                         stream=True, timeout=(5, 3)) as stream:
        try:
            for chunk in stream.iter_content(chunk_size=None):
                chunks.append(chunk.decode("utf-8", "replace"))
        except requests.exceptions.ConnectionError:  # the read timeout: nothing more to say
            pass
    assert chunks and chunks[0].startswith("retry:")
    texts.append("".join(chunks))
    return "\n".join(texts)


def _export_for_review(desk, openid: str, work) -> None:
    """The conversation's user messages into the stack's review queue, through the product's
    own export (``training.review.collect`` reads a tracker store's events table): the path
    by which the trainers' page is fed in production."""
    import json as json_module

    import sqlalchemy as sa

    from training.review import ReviewQueue, collect

    events_db = f"sqlite:///{work / 'events.db'}"
    engine = sa.create_engine(events_db)
    table = sa.Table("events", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("sender_id", sa.String), sa.Column("timestamp", sa.Float),
                     sa.Column("data", sa.Text))
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        for event in desk.tracker(openid)["events"]:
            conn.execute(table.insert().values(sender_id=openid, timestamp=event.get("timestamp"),
                                               data=json_module.dumps(event)))
    engine.dispose()
    items = collect(events_db, min_confidence=1.01)  # every user message, whatever its score
    assert len(items) >= 2
    ReviewQueue(desk.extra["review_db_url"]).add(items)


def test_no_call_gives_anyone_an_unmasked_id_number_phone_or_bank_card(desk, tmp_path):
    """Every GET the console serves (the list is read from the app: a new one cannot be
    forgotten), read by each role that may, and the answers of the state-changing calls."""
    user = SimUser(desk)
    user.say(f"我身份证{ID_NUMBER}，手机{PHONE}，退款打到卡{BANK_CARD}", "")
    user.say("转人工", "排在第")
    answers = []  # every answer read, as text
    visited = set()

    def read(client, path):
        answer = client.get(path)
        visited.add(("GET", path.split("?")[0].replace(user.openid, "oSomeone")))
        answers.append(answer.text)
        return answer

    def change(client, path, body=None):
        answer = client.post(path, body)
        visited.add(("POST", re.sub(r"/items/[^/]+/", "/items/{item_id}/",
                                    path.replace(user.openid, "oSomeone"))))
        answers.append(answer.text)
        return answer

    clients = {}
    for name in ("agent1", "lead1", "trainer1"):
        clients[name] = ConsoleClient(desk.console_url)
        signed = clients[name].sign_in(name, ACCOUNTS[name][1])
        assert signed.status_code == 200
        answers.append(signed.text)
        visited.add(("POST", "/api/v1/session"))
        read(clients[name], "/api/v1/session")
    agent, lead, trainer = clients["agent1"], clients["lead1"], clients["trainer1"]
    chat = f"/api/v1/chats/{user.openid}"
    assert change(agent, f"{chat}/take").status_code == 200
    requests.post(f"{desk.simulator_url}/sim/messages", timeout=10, json={
        "openid": user.openid, "text": f"再说一遍 {ID_NUMBER} {PHONE} {BANK_CARD}"})
    assert change(agent, f"{chat}/notes", {"text": f"用户卡号 {BANK_CARD}，手机 {PHONE}"}
                  ).status_code == 200
    assert change(agent, f"{chat}/messages", {"text": "好的，已经记下了，请稍等"}).status_code == 200
    time.sleep(1.5)
    answers.append(_everything_an_agent_can_read(agent, user.openid))
    visited |= {("GET", "/api/v1/chats"), ("GET", "/api/v1/chats/oSomeone"), ("GET", "/api/v1/canned"),
                ("GET", "/api/v1/stream")}
    for path in ("/api/v1/agents", f"/api/v1/audit?chat_id={user.openid}", "/api/v1/audit",
                 "/api/v1/figures", "/api/v1/chats?state=all", chat,
                 # the figures page's report (messages not understood) and the satisfaction figure
                 "/api/v1/figures/report", "/api/v1/satisfaction"):
        assert read(lead, path).status_code == 200, path
    assert change(lead, f"{chat}/assign", {"username": "agent1"}).status_code == 200

    _export_for_review(desk, user.openid, tmp_path)
    items = read(trainer, "/api/v1/review/items?status=new").json()["items"]
    assert any(PHONE[-4:] in item["text"] for item in items), items  # the message is there, masked
    assert read(trainer, "/api/v1/review/labels").status_code == 200
    assert read(trainer, "/api/v1/review/label-names").status_code == 200
    assert change(trainer, f"/api/v1/review/items/{items[0]['id']}/label",
                  {"label": "inform"}).status_code == 200
    assert change(trainer, f"/api/v1/review/items/{items[1]['id']}/reject").status_code == 200
    for status in ("labelled", "rejected"):
        assert read(trainer, f"/api/v1/review/items?status={status}").json()["count"] >= 1
    transcript = agent.get(chat).json()["turns"]
    assert any(t["who"] == "user" and "再说一遍" in t["text"] for t in transcript)
    assert change(agent, f"{chat}/close").status_code == 200

    every_get = {(m, p) for m, p in ROUTES if m == "GET"}
    assert every_get <= visited, every_get - visited
    assert {("POST", "/api/v1/chats/oSomeone/take"), ("POST", "/api/v1/chats/oSomeone/notes"),
            ("POST", "/api/v1/chats/oSomeone/messages"), ("POST", "/api/v1/chats/oSomeone/assign"),
            ("POST", "/api/v1/review/items/{item_id}/label"),
            ("POST", "/api/v1/review/items/{item_id}/reject")} <= visited
    seen = "\n".join(answers)
    digits_only = re.sub(r"\D", "", seen)
    for secret in (ID_NUMBER, PHONE, BANK_CARD):
        assert secret not in seen, secret
        assert re.sub(r"\D", "", secret) not in digits_only, secret
    assert "138****8000" in seen  # masked, still useful to the agent
