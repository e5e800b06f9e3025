"""The console's side of the tests: a fresh PostgreSQL database, accounts made with the admin
command, and a signed-in client of the JSON API (cookie + X-CSRF-Token)."""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional

import requests

from harness.services import PYTHON, ROOT
from tests.support.postgres import postgres_database

TIMEOUT = 15
ACCOUNTS = {  # the contract's demo accounts, and a second agent
    "agent1": ("agent", "tuibao-agent-demo"),
    "agent2": ("agent", "tuibao-agent2-demo"),
    "lead1": ("supervisor", "tuibao-lead-demo"),
    "trainer1": ("trainer", "tuibao-trainer-demo"),
}


def create_account(db_url: str, username: str, role: str, password: str) -> None:
    """The admin command, as an operator runs it."""
    done = subprocess.run(
        [PYTHON, "-m", "console.admin", "create-user", username, "--role", role,
         "--password-env", "CONSOLE_TEST_PASSWORD"], cwd=ROOT, capture_output=True, text=True,
        timeout=60, env={**os.environ, "TUIBAO_HANDOFF_DB_URL": db_url,
                         "CONSOLE_TEST_PASSWORD": password})
    assert done.returncode == 0, done.stderr


@dataclass
class ConsoleClient:
    """One browser's worth of the API: its cookie jar and the CSRF token it was given."""

    base_url: str
    http: requests.Session = field(default_factory=requests.Session)
    csrf_token: Optional[str] = None
    user: Optional[Dict[str, Any]] = None

    def sign_in(self, username: str, password: str) -> requests.Response:
        answer = self.http.post(f"{self.base_url}/api/v1/session",
                                json={"username": username, "password": password},
                                timeout=TIMEOUT)
        if answer.ok:
            self.csrf_token = answer.json()["csrf_token"]
            self.user = answer.json()["user"]
        return answer

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(f"{self.base_url}{path}", timeout=TIMEOUT, **kwargs)

    def post(self, path: str, json: Any = None, csrf: bool = True) -> requests.Response:
        headers = {"X-CSRF-Token": self.csrf_token} if csrf and self.csrf_token else {}
        return self.http.post(f"{self.base_url}{path}", json=json, headers=headers,
                              timeout=TIMEOUT)

    def delete(self, path: str, csrf: bool = True) -> requests.Response:
        headers = {"X-CSRF-Token": self.csrf_token} if csrf and self.csrf_token else {}
        return self.http.delete(f"{self.base_url}{path}", headers=headers, timeout=TIMEOUT)


def signed_in(base_url: str, username: str) -> ConsoleClient:
    client = ConsoleClient(base_url)
    answer = client.sign_in(username, ACCOUNTS[username][1])
    assert answer.status_code == 200, answer.text
    return client


class SimUser:
    """A follower typing in the simulator's chat (which opens WeChat's 48-hour window)."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.url = stack.simulator_url
        answer = requests.post(f"{self.url}/sim/follow", json={}, timeout=10)
        answer.raise_for_status()
        self.openid = answer.json()["openid"]
        self.seen = self._last_seq()

    def _feed(self, after: int = 0) -> List[Dict[str, Any]]:
        answer = requests.get(f"{self.url}/sim/feed",
                              params={"openid": self.openid, "after": after}, timeout=10)
        answer.raise_for_status()
        return answer.json()["items"]

    def _last_seq(self) -> int:
        items = self._feed()
        return items[-1]["seq"] if items else 0

    def account_said(self, after: int) -> List[str]:
        return [i["content"] for i in self._feed(after) if i["side"] == "account"]

    def tap(self, said: str, label: str, expect: str = "", timeout: float = 30) -> str:
        """Tap the choice labelled ``label`` in what the account ``said``, as the chat page
        does (its words as the text, its menu id along); wait as ``say`` does."""
        from harness.wechat_caller import menu_choices

        found = [c for c in menu_choices(said) if c.label == label]
        assert found, f"no choice {label!r} in {said!r}"
        return self.say(found[-1].content, expect, timeout, menu_id=found[-1].menu_id)

    def say(self, text: str, expect: str = "", timeout: float = 30,
            menu_id: Optional[str] = None) -> str:
        """Send ``text``; wait until the account says something containing ``expect``."""
        before = self._last_seq()
        body = {"openid": self.openid, "text": text}
        if menu_id is not None:
            body["bizmsgmenuid"] = menu_id
        requests.post(f"{self.url}/sim/messages", json=body,
                      timeout=10).raise_for_status()
        deadline = time.monotonic() + timeout
        said: List[str] = []
        while time.monotonic() < deadline:
            said = self.account_said(before)
            if expect and any(expect in s for s in said):
                return "\n".join(said)
            if not expect and said:
                return "\n".join(said)
            time.sleep(0.2)
        raise AssertionError(f"waited for {expect!r} after {text!r}; account said {said}")

    def wait_for(self, expect: str, after: int, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        said: List[str] = []
        while time.monotonic() < deadline:
            said = self.account_said(after)
            if any(expect in s for s in said):
                return "\n".join(said)
            time.sleep(0.2)
        raise AssertionError(f"waited for {expect!r}; account said {said}")
