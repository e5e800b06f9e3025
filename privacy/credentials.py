"""The insurer's bearer tokens, kept where only the action server can use them.

An insurer answers a right SMS code with a bearer token valid for one policy for about 30
minutes. Whoever holds it can read that policy, get quotes, submit and withdraw a surrender, so
it never enters the tracker (slot events are stored, streamed and served by Rasa's HTTP API):
the tracker keeps only a non-secret marker (``holder_policy``, ``holder_expires``) and the token
lives here, keyed by conversation, until it expires.

One table (``holder_credentials``) behind any SQLAlchemy URL (``TUIBAO_CREDENTIALS_DB_URL``,
SQLite ``var/credentials.db`` by default; PostgreSQL when several action-server replicas must
share it). A dump of the table alone reveals nothing:
- the token and its policy number are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under
  ``TUIBAO_CREDENTIALS_KEY``;
- the conversation id is stored as an HMAC under a key derived from the same secret, so the
  table does not say which WeChat user verified, yet a conversation finds its own row.
Key rotation: set the new key as ``TUIBAO_CREDENTIALS_KEY`` and the old one as
``TUIBAO_CREDENTIALS_PREVIOUS_KEY``. A conversation whose row was named and sealed under the
previous key still finds and opens it; on that read the row is re-sealed under the current key
and renamed with the current key's HMAC, so once every live row was read or expired (30
minutes at most) the previous key can go.
Rows are removed when read after expiry, by ``delete`` (the user's erasure request, the end of
the session) and by ``purge_expired`` (``python -m privacy.retention``).

SQLAlchemy is synchronous: the ``*_async`` functions run it in an executor.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import (Column, DateTime, MetaData, String, Table, Text, and_, create_engine, delete,
                        func, not_, select)
from sqlalchemy.engine import Engine

import redaction
from insurers.base import HolderSession

metadata = MetaData()
HOLDER = "holder"
HELD = "held:"  # + "lookup_phone" / "lookup_id_suffix": see CredentialStore.hold
HELD_LIFETIME = dt.timedelta(minutes=10)

holder_credentials = Table(
    "holder_credentials",
    metadata,
    Column("conversation_key", String(64), primary_key=True),  # HMAC of the conversation id
    # "holder": the session the conversation acts with; "lookup:<insurer>": a holder lookup's
    # session that opens every policy it listed at that insurer; "held:<slot>": a phone or ID
    # suffix sent alone, kept for the message that completes it (10 minutes at most).
    Column("purpose", String(64), primary_key=True, default=HOLDER),
    Column("sealed", Text, nullable=False),  # Fernet({"token", "policy_number", "covers", "expires_at"})
    # Our clock: when the row goes. The insurer's own expiry (its clock) travels sealed.
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("stored_at", DateTime(timezone=True), nullable=False),
)


# Tokens are kept this long by our clock at most (the sandbox's tokens live 30 minutes; an
# insurer whose clock differs still has the last word, answering SessionExpired).
DEFAULT_LIFETIME = dt.timedelta(minutes=30)


class CredentialKeyError(RuntimeError):
    """``TUIBAO_CREDENTIALS_KEY`` is not a usable Fernet key."""


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class StoredCredential:
    """What a conversation holds: the token, the one policy it opens, when it lapses."""

    token: str
    policy_number: Optional[str]
    expires_at: dt.datetime
    covers: Tuple[str, ...] = ()

    def as_session(self) -> HolderSession:
        return HolderSession(token=self.token, policy_number=self.policy_number,
                             expires_at=self.expires_at, covers=self.covers)


class CredentialStore:
    """Encrypted, expiring holder tokens keyed by conversation id."""

    def __init__(self, url: str, key: str, previous_key: str = "",
                 lifetime: dt.timedelta = DEFAULT_LIFETIME) -> None:
        try:
            keys = [Fernet(key.encode())] + ([Fernet(previous_key.encode())] if previous_key else [])
        except (ValueError, TypeError) as error:
            raise CredentialKeyError(
                "TUIBAO_CREDENTIALS_KEY must be a Fernet key (32 url-safe base64-encoded bytes; "
                "make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')") from error
        self._fernet = MultiFernet(keys)
        self._current_fernet = keys[0]
        # A separate key for the row names: knowing one does not give the other.
        self._name_key = self._derive_name_key(key)
        self._previous_name_key = self._derive_name_key(previous_key) if previous_key else None
        self.url = url
        self.lifetime = lifetime
        self._engine: Optional[Engine] = None
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- plumbing
    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                if self.url.startswith("sqlite:///"):
                    Path(self.url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
                self._engine = create_engine(self.url, pool_pre_ping=True, future=True)
                metadata.create_all(self._engine)
            return self._engine

    @staticmethod
    def _derive_name_key(key: str) -> bytes:
        return hashlib.sha256(b"tuibao-credentials-name:" + key.encode()).digest()

    def conversation_key(self, conversation_id: str) -> str:
        return hmac.new(self._name_key, conversation_id.encode(), hashlib.sha256).hexdigest()

    def _conversation_keys(self, conversation_id: str) -> Tuple[str, ...]:
        """The row names the conversation may have: the current key's, then the previous key's."""
        names = [self.conversation_key(conversation_id)]
        if self._previous_name_key is not None:
            names.append(hmac.new(self._previous_name_key, conversation_id.encode(),
                                  hashlib.sha256).hexdigest())
        return tuple(names)

    # ---------------------------------------------------------------- operations
    def _row(self, conversation_id: str, purpose: str, name: Optional[str] = None):
        return and_(holder_credentials.c.conversation_key
                    == (name or self.conversation_key(conversation_id)),
                    holder_credentials.c.purpose == purpose)

    def put(self, conversation_id: str, session: HolderSession, purpose: str = HOLDER) -> None:
        """Keep ``session`` for this conversation and purpose (replacing any earlier one)."""
        redaction.register_secret(session.token)
        self._put_sealed(conversation_id, purpose, self.lifetime, {
            "token": session.token, "policy_number": session.policy_number,
            "covers": list(session.covers), "expires_at": _utc(session.expires_at).isoformat()})

    def get(self, conversation_id: str, now: Optional[dt.datetime] = None,
            purpose: str = HOLDER) -> Optional[StoredCredential]:
        """The conversation's token for ``purpose`` if it has one that has not expired (expired
        ones are removed on the way); None if it cannot be decrypted (key rotated away)."""
        opened = self._get_sealed(conversation_id, purpose, now)
        if opened is None or "token" not in opened:
            return None
        redaction.register_secret(opened["token"])
        return StoredCredential(token=opened["token"], policy_number=opened["policy_number"],
                                expires_at=dt.datetime.fromisoformat(opened["expires_at"]),
                                covers=tuple(opened.get("covers") or ()))

    # A phone number or ID suffix the user sent on its own, kept (sealed, named like a token)
    # for the message that completes it (issue 19.6): the tracker store masks both, so the
    # tracker cannot carry it. Short-lived, and removed as soon as it is used.
    def hold(self, conversation_id: str, what: str, value: str,
             lifetime: dt.timedelta = HELD_LIFETIME) -> None:
        self._put_sealed(conversation_id, HELD + what, lifetime, {"value": value})

    def held(self, conversation_id: str, what: str, now: Optional[dt.datetime] = None) -> Optional[str]:
        opened = self._get_sealed(conversation_id, HELD + what, now)
        return None if opened is None else opened.get("value")

    def release(self, conversation_id: str, *whats: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(holder_credentials).where(and_(
                holder_credentials.c.conversation_key.in_(self._conversation_keys(conversation_id)),
                holder_credentials.c.purpose.in_([HELD + w for w in whats]))))

    def _put_sealed(self, conversation_id: str, purpose: str, lifetime: dt.timedelta,
                    payload: Dict[str, Any]) -> None:
        sealed = self._fernet.encrypt(json.dumps(payload).encode()).decode()
        now = dt.datetime.now(dt.timezone.utc)
        with self.engine.begin() as conn:
            conn.execute(delete(holder_credentials).where(
                and_(holder_credentials.c.conversation_key.in_(self._conversation_keys(conversation_id)),
                     holder_credentials.c.purpose == purpose)))
            conn.execute(holder_credentials.insert().values(
                conversation_key=self.conversation_key(conversation_id), purpose=purpose,
                sealed=sealed, expires_at=now + lifetime, stored_at=now))

    def _get_sealed(self, conversation_id: str, purpose: str,
                    now: Optional[dt.datetime] = None) -> Optional[Dict[str, Any]]:
        now = now or dt.datetime.now(dt.timezone.utc)
        with self.engine.begin() as conn:
            row, name = None, None
            for name in self._conversation_keys(conversation_id):
                row = conn.execute(select(holder_credentials).where(
                    self._row(conversation_id, purpose, name))).first()
                if row is not None:
                    break
            if row is None:
                return None
            if _utc(row.expires_at) <= now:
                conn.execute(delete(holder_credentials).where(
                    self._row(conversation_id, purpose, name)))
                return None
            try:
                opened = json.loads(self._fernet.decrypt(row.sealed.encode()))
            except InvalidToken:
                return None
            current = self.conversation_key(conversation_id)
            if name != current or not self._sealed_under_current_key(row.sealed):
                # Sealed or named under the previous key: re-seal and rename it under the
                # current one, keeping our expiry, so the previous key can be retired.
                conn.execute(delete(holder_credentials).where(
                    self._row(conversation_id, purpose, name)))
                conn.execute(holder_credentials.insert().values(
                    conversation_key=current, purpose=purpose,
                    sealed=self._fernet.rotate(row.sealed.encode()).decode(),
                    expires_at=row.expires_at, stored_at=row.stored_at))
        return opened

    def _sealed_under_current_key(self, sealed: str) -> bool:
        try:
            self._current_fernet.decrypt(sealed.encode())
        except InvalidToken:
            return False
        return True

    def delete(self, conversation_id: str) -> int:
        """Forget everything kept for the conversation (its tokens and its lookups', held
        fragments, under the current and the previous key's row names); how many tokens went
        (what the user is told: held fragments are not credentials)."""
        ours = holder_credentials.c.conversation_key.in_(self._conversation_keys(conversation_id))
        with self.engine.begin() as conn:
            tokens = conn.execute(select(func.count()).select_from(holder_credentials).where(
                and_(ours, not_(holder_credentials.c.purpose.startswith(HELD))))).scalar()
            conn.execute(delete(holder_credentials).where(ours))
            return int(tokens or 0)

    def count_expired(self, now: Optional[dt.datetime] = None) -> int:
        now = now or dt.datetime.now(dt.timezone.utc)
        with self.engine.connect() as conn:
            return len(conn.execute(select(holder_credentials.c.conversation_key).where(
                holder_credentials.c.expires_at <= now)).all())

    def purge_expired(self, now: Optional[dt.datetime] = None) -> int:
        """Remove every expired token; how many went."""
        now = now or dt.datetime.now(dt.timezone.utc)
        with self.engine.begin() as conn:
            return conn.execute(delete(holder_credentials).where(
                holder_credentials.c.expires_at <= now)).rowcount

    # ---------------------------------------------------------------- off the event loop
    async def put_async(self, conversation_id: str, session: HolderSession,
                        purpose: str = HOLDER) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.put, conversation_id, session,
                                                         purpose)

    async def get_async(self, conversation_id: str,
                        purpose: str = HOLDER) -> Optional[StoredCredential]:
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.get(conversation_id, purpose=purpose))

    async def hold_async(self, conversation_id: str, what: str, value: str) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.hold, conversation_id, what, value)

    async def held_async(self, conversation_id: str, what: str) -> Optional[str]:
        return await asyncio.get_running_loop().run_in_executor(None, self.held, conversation_id, what)

    async def release_async(self, conversation_id: str, *whats: str) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.release, conversation_id, *whats)

    async def delete_async(self, conversation_id: str) -> int:
        return await asyncio.get_running_loop().run_in_executor(None, self.delete, conversation_id)


_stores: Dict[tuple, CredentialStore] = {}
_stores_lock = threading.Lock()


def credential_store() -> CredentialStore:
    """The store the settings name (one per URL and key; built on first use, not at import)."""
    from privacy.settings import load_store_settings

    settings = load_store_settings()
    ident = (settings.credentials_db_url, settings.credentials_key, settings.credentials_previous_key,
             settings.credentials_lifetime)
    with _stores_lock:
        store = _stores.get(ident)
        if store is None:
            store = CredentialStore(*ident)
            _stores[ident] = store
        return store
