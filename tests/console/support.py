"""The console's side of the tests: a fresh PostgreSQL database, accounts made with the admin
command, and a signed-in client of the JSON API (cookie + X-CSRF-Token)."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, Optional

import requests

from tests.support.services import PYTHON, ROOT
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
