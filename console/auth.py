"""Accounts, sign-in and sessions of the console.

Passwords are argon2id hashes (argon2-cffi). A failed sign-in counts against the name tried,
known or not, and the answer is the same for an unknown name and a wrong password (an unknown
name is verified against a dummy hash, so it takes as long). Sessions live in the database
(only the SHA-256 of the cookie's token is stored), each with its own CSRF token.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Optional, Tuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from handoff.store import (
    HandoffStore, Role, aware, console_sessions, console_users, now, sign_in_failures,
)

COOKIE = "tuibao_console"
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("no-such-user-dummy-password")


@dataclass(frozen=True)
class ConsoleUser:
    name: str
    role: str


@dataclass(frozen=True)
class Session:
    user: ConsoleUser
    csrf_token: str
    token_hash: str


class SignInLocked(Exception):
    """Too many failed sign-ins for this name, or from this source address: wait until
    ``until``."""

    def __init__(self, until: dt.datetime):
        super().__init__(until.isoformat())
        self.until = until


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(store: HandoffStore, username: str, password: str, role: str,
                display_name: Optional[str] = None) -> None:
    """Create or update an account (the admin command's job; no default accounts exist)."""
    if not USERNAME.match(username):
        raise ValueError("user names are 1-64 letters, digits, dot, dash or underscore")
    if role not in {r.value for r in Role}:
        raise ValueError(f"role must be one of {[r.value for r in Role]}")
    if len(password) < 12:
        raise ValueError("passwords have at least 12 characters")
    values = dict(role=role, password_hash=_hasher.hash(password),
                  display_name=display_name or username)
    with store.engine.begin() as conn:
        exists = conn.execute(select(console_users.c.username)
                              .where(console_users.c.username == username)).first()
        if exists:
            conn.execute(console_users.update().where(console_users.c.username == username)
                         .values(**values))
            conn.execute(delete(console_sessions).where(console_sessions.c.username == username))
        else:
            conn.execute(console_users.insert().values(username=username, created_at=now(),
                                                       **values))


def users_with_roles(store: HandoffStore, *roles: str) -> list:
    with store.engine.connect() as conn:
        rows = conn.execute(select(console_users.c.username, console_users.c.role)
                            .where(console_users.c.role.in_(roles))
                            .order_by(console_users.c.username))
        return [{"name": name, "role": role} for name, role in rows]


class Authenticator:
    """Sign-in with lockout, and sessions, on the handoff database."""

    def __init__(self, store: HandoffStore, *, session_ttl_s: int, max_failures: int,
                 failure_window_s: int, lockout_s: int,
                 max_source_failures: int = 20, source_throttle_s: int = 10) -> None:
        self.store = store
        self.max_source_failures = max_source_failures
        self.source_throttle = dt.timedelta(seconds=source_throttle_s)
        self.session_ttl = dt.timedelta(seconds=session_ttl_s)
        self.max_failures = max_failures
        self.failure_window = dt.timedelta(seconds=failure_window_s)
        self.lockout = dt.timedelta(seconds=lockout_s)

    @staticmethod
    def _key(username: str) -> str:
        key = username.strip().lower()[:64]
        # "@…" rows are source addresses: a typed name cannot count against one.
        return "_" + key[1:] if key.startswith("@") else key

    def _locked_until(self, key: str) -> Optional[dt.datetime]:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(sign_in_failures.c.locked_until)
                               .where(sign_in_failures.c.username == key)).first()
        until = aware(row[0]) if row else None
        return until if until and until > now() else None

    @staticmethod
    def _source_key(source: Optional[str]) -> Optional[str]:
        """The lockout row of a source address (the same table as names: ``@`` never starts
        a user name)."""
        return f"@{source.strip().lower()[:60]}" if source else None

    def _record_failure(self, key: str, limit: Optional[int] = None,
                        throttle: Optional[dt.timedelta] = None) -> None:
        """Count a failed sign-in against ``key``. At ``limit`` failures within the window a
        name is locked for the lockout; a source address (``throttle`` given) is slowed
        instead: one try per ``throttle`` until its window passes, so a call centre behind one
        address is slowed, never shut out, while guessing names by the dozen stops."""
        limit = limit or self.max_failures
        moment = now()
        with self.store.engine.begin() as conn:
            row = conn.execute(select(sign_in_failures).where(sign_in_failures.c.username == key)
                               .with_for_update()).first()
            if row is None:
                try:
                    conn.execute(sign_in_failures.insert().values(
                        username=key, failures=1, first_failure_at=moment, locked_until=None))
                    return
                except Exception:  # a concurrent first failure: count on the row it made
                    row = conn.execute(select(sign_in_failures)
                                       .where(sign_in_failures.c.username == key)).first()
            failures, first = row.failures + 1, aware(row.first_failure_at)
            if moment - first > self.failure_window:
                failures, first = 1, moment
            if throttle is not None:
                conn.execute(sign_in_failures.update().where(sign_in_failures.c.username == key)
                             .values(failures=failures, first_failure_at=first,
                                     locked_until=moment + throttle if failures >= limit
                                     else None))
                return
            locked = moment + self.lockout if failures >= limit else None
            conn.execute(sign_in_failures.update().where(sign_in_failures.c.username == key)
                         .values(failures=0 if locked else failures, first_failure_at=first,
                                 locked_until=locked))

    def sign_in(self, username: str, password: str,
                source: Optional[str] = None) -> Optional[Tuple[Session, str]]:
        """A new session and the cookie's token, or None for any wrong pair; raises
        ``SignInLocked`` while the name is locked, or while ``source`` (the client's address)
        is: past ``max_source_failures`` failures from one address, whatever names they
        tried, that address may try once per ``source_throttle_s`` seconds."""
        key = self._key(username)
        source_key = self._source_key(source)
        if source_key:
            until = self._locked_until(source_key)
            if until:
                raise SignInLocked(until)
        until = self._locked_until(key)
        if until:
            raise SignInLocked(until)
        with self.store.engine.connect() as conn:
            row = conn.execute(select(console_users).where(console_users.c.username == username)
                               ).first() if USERNAME.match(username) else None
        try:
            _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
            ok = row is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            self._record_failure(key)
            if source_key:
                self._record_failure(source_key, self.max_source_failures,
                                     throttle=self.source_throttle)
            return None
        with self.store.engine.begin() as conn:
            conn.execute(delete(sign_in_failures).where(sign_in_failures.c.username == key))
        return self._open_session(ConsoleUser(row.username, row.role))

    def unlock(self, username: Optional[str] = None, source: Optional[str] = None) -> bool:
        """A supervisor's (or the admin command's) unlock of a name or a source address:
        its failures are forgotten. True when something was locked or counted."""
        keys = [k for k in (self._key(username) if username else None,
                            self._source_key(source)) if k]
        with self.store.engine.begin() as conn:
            removed = conn.execute(delete(sign_in_failures)
                                   .where(sign_in_failures.c.username.in_(keys))).rowcount
        return bool(removed)

    def _open_session(self, user: ConsoleUser) -> Tuple[Session, str]:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        moment = now()
        with self.store.engine.begin() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.expires_at < moment))
            conn.execute(console_sessions.insert().values(
                token_hash=token_hash(token), username=user.name, csrf_token=csrf,
                created_at=moment, expires_at=moment + self.session_ttl))
        # The raw token travels once, in the cookie; only its hash is kept.
        return Session(user, csrf, token_hash(token)), token

    def session(self, token: Optional[str]) -> Optional[Session]:
        if not token or len(token) > 200:
            return None
        hashed = token_hash(token)
        query = (select(console_sessions.c.csrf_token, console_sessions.c.expires_at,
                        console_users.c.username, console_users.c.role)
                 .join(console_users, console_users.c.username == console_sessions.c.username)
                 .where(console_sessions.c.token_hash == hashed))
        with self.store.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or aware(row.expires_at) <= now():
            return None
        return Session(ConsoleUser(row.username, row.role), row.csrf_token, hashed)

    def sign_out(self, session: Session) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(delete(console_sessions)
                         .where(console_sessions.c.token_hash == session.token_hash))

    @staticmethod
    def csrf_ok(session: Session, header: Optional[str]) -> bool:
        return bool(header) and hmac.compare_digest(session.csrf_token, header)
