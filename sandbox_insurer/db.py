"""Engine, sessions and migrations. Nothing connects until ``Database.migrate`` or a session."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _serialise_sqlite_writers(engine: Engine) -> None:
    """SQLite allows one writer; a deferred transaction that later writes can fail at once with
    "database is locked". BEGIN IMMEDIATE takes the write lock up front and waits for it."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # let us issue BEGIN ourselves
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        dbapi_connection.execute("PRAGMA busy_timeout = 15000")
        if engine.url.database not in (None, "", ":memory:"):
            # Readers never wait for the writer, and a commit is not an fsync: in WAL it
            # survives a crash of the process, only a power cut may take the last ones. The
            # commits were a fifth of the sandbox's busy time under load (docs/benchmarks.md).
            dbapi_connection.execute("PRAGMA journal_mode = WAL")
            dbapi_connection.execute("PRAGMA synchronous = NORMAL")

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """The sandbox's database: SQLite by default, PostgreSQL or any SQLAlchemy URL."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        if self.url.get_backend_name() == "sqlite":
            # Pooled connections: SQLAlchemy 1.4 opens a file database anew for every session
            # (NullPool), its PRAGMAs included. In memory, each connection is a database of its
            # own: that stays as it was.
            pooled = ({"poolclass": QueuePool, "pool_size": 8, "max_overflow": 8}
                      if self.url.database not in (None, "", ":memory:") else {})
            self.engine = create_engine(url, future=True, **pooled,
                                        connect_args={"timeout": 15, "check_same_thread": False})
            _serialise_sqlite_writers(self.engine)
        else:
            self.engine = create_engine(url, future=True, pool_pre_ping=True, pool_size=10,
                                        max_overflow=10, connect_args={"connect_timeout": 10})
        self._sessions = sessionmaker(self.engine, future=True, expire_on_commit=False)

    def migrate(self) -> None:
        """Apply every migration (``alembic upgrade head``) on this database."""
        if self.url.get_backend_name() == "sqlite" and self.url.database not in (None, "", ":memory:"):
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions() as session:
            with session.begin():
                yield session

    def dispose(self) -> None:
        self.engine.dispose()
