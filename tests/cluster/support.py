"""Drive the running cluster (bin/cluster) as its users and its operator would.

``Cluster`` runs ``bin/cluster`` and reads the sandbox insurer and the simulator;
``WeChatServer`` delivers callbacks as WeChat does (signed, AES-encrypted, the user's openid in
the query, a callback without an answer in 5 s resent with the same MsgId, 3 tries);
``SurrenderingUser`` walks one policy's surrender and collects every answer it is given,
passive replies and customer-service pushes alike.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import requests

from connectors.wechat.channel import LATE_ANSWER_HEADER
from connectors.wording import TURN_FAILED
from harness.services import ROOT
from harness.wechat_caller import WECHAT_CUT_S, WECHAT_TRIES, WeChatCaller, text_xml

HTTP_TIMEOUT = 10
INGRESS = "http://127.0.0.1:9000"
SANDBOX = "http://127.0.0.1:9090"
SIMULATOR = "http://127.0.0.1:9088"
CONSOLE = "http://127.0.0.1:9080"
API_TOKEN = "tuibao-demo-api-token"
METRICS_TOKEN = "tuibao-cluster-metrics-token"  # cluster/settings.py: every /metrics wants it
RASA_REPLICAS = ("rasa-1", "rasa-2")
ACTION_SERVERS = ("actions-1", "actions-2")
CASE_NUMBER = re.compile(r"TB\d{14}")
SUBMITTED = "退保申请已提交"
_FROM = re.compile(r"<FromUserName><!\[CDATA\[(.*?)\]\]></FromUserName>")


# The stores' addresses the session's cluster runs on (tests/cluster/conftest.py: a private
# redis-server and a proxy in front of PostgreSQL, so that faults can be made), for every call.
CLUSTER_ENV: Dict[str, str] = {}


def bin_cluster(*args: str, timeout: float = 420) -> str:
    """Run ``bin/cluster ARGS``; its stdout. A failure raises with its stderr."""
    done = subprocess.run([str(ROOT / "bin" / "cluster"), *args], cwd=ROOT, timeout=timeout,
                          capture_output=True, text=True, env={**os.environ, **CLUSTER_ENV})
    if done.returncode != 0:
        raise AssertionError(f"bin/cluster {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


class Cluster:
    """The operator's commands and the sandbox's and simulator's views."""

    def status(self) -> List[Dict]:
        return json.loads(bin_cluster("status", timeout=60))

    def healthy(self) -> Dict[str, bool]:
        return {entry["name"]: entry["healthy"] for entry in self.status()}

    def url_of(self, name: str) -> str:
        """Where ``name`` answers, as the cluster says (``status``: its namespace's address in
        the namespace layout, 127.0.0.1 otherwise)."""
        entry = next(e for e in self.status() if e["name"] == name)
        return f"http://{entry.get('host') or '127.0.0.1'}:{entry['port']}"

    def replica_urls(self) -> List[str]:
        return [self.url_of(name) for name in RASA_REPLICAS]

    def kill(self, name: str) -> None:
        bin_cluster("kill", name, timeout=60)

    def start(self, name: str, env: Optional[Dict[str, str]] = None) -> Dict:
        """``env``: settings for this start only (``bin/cluster start NAME --env K=V``)."""
        extra = [f"--env={key}={value}" for key, value in (env or {}).items()]
        return json.loads(bin_cluster("start", name, *extra))

    def load_policies(self, count: int) -> List[Dict[str, str]]:
        answer = requests.post(f"{SANDBOX}/sandbox/load-policies", json={"count": count},
                               timeout=HTTP_TIMEOUT)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def cases(self, policy_number: str) -> List[Dict]:
        answer = requests.get(f"{SANDBOX}/sandbox/cases", timeout=HTTP_TIMEOUT,
                              params={"policy_number": policy_number})
        answer.raise_for_status()
        return answer.json()

    def sms_code(self, phone: str) -> str:
        answer = requests.get(f"{SANDBOX}/sandbox/sms", params={"phone": phone},
                              timeout=HTTP_TIMEOUT)
        answer.raise_for_status()
        messages = answer.json()
        assert messages, f"no SMS was sent to {phone[:3]}****{phone[-4:]}"
        return str(messages[0]["code"])

    def set_insurer_faults(self, latency_ms: int = 0, error_rate: float = 0.0,
                           error_mode: str = "500") -> None:
        requests.put(f"{SANDBOX}/sandbox/faults", timeout=HTTP_TIMEOUT, json={
            "latency_ms": latency_ms, "error_rate": error_rate, "error_mode": error_mode,
        }).raise_for_status()

    def relax_sms_limits(self) -> None:
        """Codes back to back (a user asked again after a fault gets a fresh code)."""
        requests.put(f"{SANDBOX}/sandbox/sms-limits", timeout=HTTP_TIMEOUT,
                     json={"min_interval_s": 0, "max_per_hour": 0}).raise_for_status()

    def follow(self, openid: str) -> None:
        requests.post(f"{SIMULATOR}/sim/follow", json={"openid": openid},
                      timeout=HTTP_TIMEOUT).raise_for_status()

    def outbox(self, openid: str) -> List[str]:
        """The texts the bot pushed to ``openid`` (customer-service messages), oldest first."""
        answer = requests.get(f"{SIMULATOR}/sim/outbox", params={"openid": openid},
                              timeout=HTTP_TIMEOUT)
        answer.raise_for_status()
        return [_pushed_text(item) for item in answer.json()]

    def user_turns(self, openid: str) -> List[str]:
        """The user messages Rasa's tracker store holds for this user (read via the ingress)."""
        answer = requests.get(f"{INGRESS}/conversations/{openid}/tracker", timeout=HTTP_TIMEOUT,
                              params={"token": API_TOKEN})
        answer.raise_for_status()
        return [e.get("text") for e in answer.json().get("events", []) if e.get("event") == "user"]


def _pushed_text(item: Dict) -> str:
    return str(item.get("content") or json.dumps(item.get("msgmenu") or item, ensure_ascii=False))


class WeChatServer(WeChatCaller):
    """WeChat's side of the callbacks, aimed at the ingress or at one replica."""

    def __init__(self, base_url: str = INGRESS) -> None:
        super().__init__(f"{base_url}/webhooks/wechat/webhook")

    def signed_request(self, xml: str, timestamp=None, nonce=None) -> Tuple[Dict[str, str], bytes]:
        query, body = super().signed_request(xml, timestamp, nonce)
        query["openid"] = _FROM.search(xml).group(1)  # WeChat names the user in the query
        return query, body

    def deliver(self, xml: str, cut_s: float = WECHAT_CUT_S,
                tries: int = WECHAT_TRIES) -> Tuple[Optional[str], int]:
        """Deliver as WeChat does: a try that is not answered with 200 within ``cut_s``
        (hung up, refused, a proxy's 502) is resent with the same MsgId, ``tries`` in all.
        Returns (the passive reply's text or None, the tries made)."""
        for made in range(1, tries + 1):
            query, body = self.signed_request(xml)
            try:
                answer = requests.post(self.webhook_url, params=query, data=body, timeout=cut_s,
                                       headers={"Content-Type": "text/xml"})
            except requests.RequestException:
                continue
            if answer.status_code == 200:
                return self.open_reply(answer.text, query), made
            time.sleep(0.2)
        return None, tries


@dataclass
class SurrenderingUser:
    """One follower surrendering one policy: every answer seen, passive or pushed."""

    openid: str
    policy: Dict[str, str]
    cluster: Cluster
    wechat: WeChatServer
    answers: List[str] = field(default_factory=list)
    tries: int = 0
    _pushed_seen: int = 0

    def ask(self, text: str, expect: str, wait_push_s: float = 120) -> str:
        """Send ``text`` (as WeChat, resends included) until an answer containing ``expect``
        comes, passively or pushed. A failed turn's apology is followed, as a user would, by
        sending the same words again (at most twice)."""
        for _ in range(3):
            reply, tries = self.wechat.deliver(text_xml(self.openid, text))
            self.tries += tries
            got = [reply] if reply else []
            deadline = time.monotonic() + wait_push_s
            while not any(expect in g for g in got) and time.monotonic() < deadline:
                if got and any(TURN_FAILED in g for g in got):
                    break
                pushed = self.cluster.outbox(self.openid)
                got += pushed[self._pushed_seen:]
                self._pushed_seen = len(pushed)
                if not any(expect in g for g in got):
                    time.sleep(0.5)
            self.answers += got
            if any(expect in g for g in got):
                return "\n".join(got)
        raise AssertionError(f"{self.openid}: no answer with {expect!r} to {text!r}; "
                             f"got {self.answers[-3:]!r}")

    def surrender(self) -> str:
        """The whole surrender; returns the case number the user was told."""
        self.ask("我要退保", "保单号")
        self.ask(self.policy["policy_number"], "身份证")
        phone = self.policy["phone"]
        self.ask(self.policy["id_suffix"], f"{phone[:3]}****{phone[-4:]}")
        self.ask(self.cluster.sms_code(self.policy["phone"]), "47.19")
        submitted = self.ask("确认", SUBMITTED)
        return CASE_NUMBER.search(submitted[submitted.index(SUBMITTED):]).group()

    def times_told(self, words: str) -> int:
        """How many answers (passive and pushed, a late answer's header aside) say ``words``."""
        pushed = self.cluster.outbox(self.openid)
        extra = pushed[self._pushed_seen:]
        return sum(a.count(words) for a in self.answers + extra
                   if a and a != LATE_ANSWER_HEADER)
