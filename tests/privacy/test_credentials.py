"""Insurer bearer tokens live in the action server's credentials store, sealed, keyed by
conversation, with expiry: a dump of the store reveals neither token, policy nor user, and the
tracker sees only a marker. On SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from privacy.credentials import CredentialKeyError, CredentialStore
from insurers.base import HolderSession

TOKEN = "Zk3v-8Qm_2LpR7sT1uVw9xYa0bCdEfGhIjKlMnOpQrS"
OPENID = "oTuibaoUser0000000000000001"
POLICY = "SBX1000000000012"
KEY = Fernet.generate_key().decode()


def _session(minutes: int = 30) -> HolderSession:
    return HolderSession(token=TOKEN, policy_number=POLICY,
                         expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes))


def _dump(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM holder_credentials")).all()
    finally:
        engine.dispose()
    return json.dumps([[str(v) for v in row] for row in rows])


def test_a_token_comes_back_for_its_conversation_only_and_the_dump_reveals_nothing(database_url):
    store = CredentialStore(database_url, KEY)
    store.put(OPENID, _session())
    kept = store.get(OPENID)
    assert kept is not None and kept.token == TOKEN and kept.policy_number == POLICY
    assert store.get("oSomeoneElse000000000000001") is None
    dump = _dump(database_url)
    assert "gAAAA" in dump  # a Fernet token: the row is there, sealed
    for clear in (TOKEN, POLICY, OPENID):
        assert clear not in dump


def test_a_store_with_another_key_can_neither_find_nor_open_the_token(database_url):
    CredentialStore(database_url, KEY).put(OPENID, _session())
    other = Fernet.generate_key().decode()
    assert CredentialStore(database_url, other).get(OPENID) is None
    assert CredentialStore(database_url, other).delete(OPENID) == 0  # not even its row name


def test_a_token_stored_before_a_key_rotation_still_opens_and_is_resealed_under_the_new_key(
        database_url):
    CredentialStore(database_url, KEY).put(OPENID, _session())
    CredentialStore(database_url, KEY).put(OPENID, _session(), purpose="lookup:sandbox")
    sealed_before = _dump(database_url)
    new_key = Fernet.generate_key().decode()
    rotated = CredentialStore(database_url, new_key, previous_key=KEY)

    kept = rotated.get(OPENID)
    assert kept is not None and kept.token == TOKEN and kept.policy_number == POLICY
    # Re-sealed and renamed on that read: the new key alone opens it now, the old one cannot.
    assert _dump(database_url) != sealed_before
    assert CredentialStore(database_url, new_key).get(OPENID).token == TOKEN
    assert CredentialStore(database_url, KEY).get(OPENID) is None
    # One row per conversation and purpose still (the old-named row went), and the other
    # purpose's row, not yet read, still opens through the previous key.
    assert rotated.get(OPENID).token == TOKEN
    assert rotated.get(OPENID, purpose="lookup:sandbox").token == TOKEN
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM holder_credentials")).scalar() == 2
    finally:
        engine.dispose()
    for clear in (TOKEN, POLICY, OPENID):
        assert clear not in _dump(database_url)


def test_erasure_after_a_rotation_removes_rows_named_under_either_key(database_url):
    CredentialStore(database_url, KEY).put(OPENID, _session())
    rotated = CredentialStore(database_url, Fernet.generate_key().decode(), previous_key=KEY)
    rotated.put(OPENID, _session(), purpose="lookup:sandbox")
    assert rotated.delete(OPENID) == 2
    assert rotated.get(OPENID) is None and "gAAAA" not in _dump(database_url)


def test_expired_tokens_are_not_returned_and_are_purged(database_url):
    store = CredentialStore(database_url, KEY, lifetime=dt.timedelta(minutes=30))
    store.put(OPENID, _session())
    store.put("oSecondUser00000000000000002", _session())
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=31)
    assert store.count_expired(later) == 2
    assert store.get(OPENID, now=later) is None  # removed on the way
    assert store.purge_expired(later) == 1
    assert store.count_expired(later) == 0 and "gAAAA" not in _dump(database_url)


def test_delete_forgets_the_conversation_and_a_new_put_replaces_the_old_token(database_url):
    store = CredentialStore(database_url, KEY)
    store.put(OPENID, _session())
    store.put(OPENID, HolderSession(token="second-token-0123456789", policy_number=POLICY,
                                    expires_at=_session().expires_at))
    assert store.get(OPENID).token == "second-token-0123456789"
    assert asyncio.run(store.delete_async(OPENID)) == 1
    assert store.get(OPENID) is None and store.delete(OPENID) == 0


def test_a_malformed_key_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(CredentialKeyError, match="TUIBAO_CREDENTIALS_KEY"):
        CredentialStore(f"sqlite:///{tmp_path / 'c.db'}", "not-a-key")
