"""A small HTTP client for the sandbox insurer, as a test (or the demo page) would use it."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import requests

from tests.support.sandbox import SandboxControl

TIMEOUT = 10
HOLDERS = {  # policy number → (last 6 of the holder's ID number, phone on file)
    "SBX1000000000012": ("31002X", "13800138000"),
    "SBX1000000000023": ("150028", "13900139000"),
    "SBX2000000000035": ("31002X", "13800138000"),
    "SBX2000000000046": ("150028", "13900139000"),
    "SBX1000000000056": ("31002X", "13800138000"),
    "SBX3000000000069": ("150028", "13900139000"),
    "SBX2000000000079": ("01001X", "13700137000"),
    "SBX1000000000089": ("01001X", "13700137000"),
    # 恒信人寿, reached with its own key (HENGXIN_KEY)
    "HX202600000121": ("31002X", "13800138000"),
    "HX202600000238": ("01001X", "13700137000"),
}
HENGXIN_KEY = "hengxin-demo-key"  # the service's default for the second insurer


class SandboxClient:
    def __init__(self, base_url: str, api_key: str, log_path: Optional[Path] = None) -> None:
        self.base_url, self.api_key, self.log_path = base_url, api_key, log_path
        self.backend = ""
        self.http = requests.Session()  # API calls: headers exactly as each test asks
        self.control = SandboxControl(base_url, api_key)  # the sandbox-only endpoints

    def call(self, method: str, path: str, *, token: Optional[str] = None,
             json: Any = None, headers: Optional[Dict[str, str]] = None,
             api_key: Optional[str] = "default", timeout: float = TIMEOUT, **kwargs) -> requests.Response:
        all_headers = dict(headers or {})
        if api_key == "default":
            api_key = self.api_key
        if api_key is not None:
            all_headers["X-Api-Key"] = api_key
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.base_url + path, json=json, headers=all_headers,
                                 timeout=timeout, **kwargs)

    # ---------------------------------------------------------------- sandbox controls
    def reset(self) -> None:
        self.control.reset()
        self.control.faults()

    def move_clock(self, seconds: int) -> dict:
        return self.control.clock(seconds)

    def sms(self, phone: str) -> list:
        return self.control.sms(phone)

    # ---------------------------------------------------------------- API
    def verify(self, id_suffix: str, policy_number: Optional[str] = None,
               case_number: Optional[str] = None, purpose: Optional[str] = None,
               api_key: Optional[str] = "default") -> requests.Response:
        body: Dict[str, str] = {"id_suffix": id_suffix}
        if policy_number:
            body["policy_number"] = policy_number
        if case_number:
            body["case_number"] = case_number
        if purpose:
            body["purpose"] = purpose
        return self.call("POST", "/v1/identity/verify", json=body, api_key=api_key)

    def confirm(self, challenge_id: str, code: str, api_key: Optional[str] = "default") -> requests.Response:
        return self.call("POST", "/v1/identity/confirm", json={"challenge_id": challenge_id, "code": code},
                         api_key=api_key)

    def key_for(self, policy_number: str) -> str:
        """The API key of the insurer that issued ``policy_number``."""
        return HENGXIN_KEY if policy_number.startswith("HX") else self.api_key

    def lookup(self, phone: str, id_suffix: str, api_key: Optional[str] = "default") -> requests.Response:
        return self.call("POST", "/v1/holders/lookup", json={"phone": phone, "id_suffix": id_suffix},
                         api_key=api_key)

    def confirm_lookup(self, challenge_id: str, code: str,
                       api_key: Optional[str] = "default") -> requests.Response:
        return self.call("POST", "/v1/holders/lookup/confirm",
                         json={"challenge_id": challenge_id, "code": code}, api_key=api_key)

    def latest_code(self, phone: str) -> str:
        return self.sms(phone)[0]["code"]

    def login(self, policy_number: str) -> str:
        """Pass the identity check as the policyholder; return the bearer token."""
        suffix, phone = HOLDERS[policy_number]
        api_key = self.key_for(policy_number)
        challenge = self.verify(suffix, policy_number, api_key=api_key)
        assert challenge.status_code == 200, challenge.text
        confirmed = self.confirm(challenge.json()["challenge_id"], self.latest_code(phone), api_key=api_key)
        assert confirmed.status_code == 200, confirmed.text
        return confirmed.json()["token"]

    def quote(self, policy_number: str, token: str, api_key: Optional[str] = None) -> requests.Response:
        return self.call("POST", f"/v1/policies/{policy_number}/quotes", token=token,
                         api_key=api_key or self.key_for(policy_number))

    def submit(self, policy_number: str, token: str, quote_id: str, key: str,
               api_key: Optional[str] = None) -> requests.Response:
        return self.call("POST", f"/v1/policies/{policy_number}/surrenders", token=token,
                         json={"quote_id": quote_id}, headers={"Idempotency-Key": key},
                         api_key=api_key or self.key_for(policy_number))

    def cases(self, policy_number: str, token: str) -> list:
        response = self.call("GET", f"/v1/policies/{policy_number}/cases", token=token)
        response.raise_for_status()
        return response.json()["cases"]
