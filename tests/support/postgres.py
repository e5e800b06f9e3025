"""A brand-new PostgreSQL database for a test run, dropped afterwards, so parallel runs and
other suites never share tables: the machine's server (127.0.0.1:5432, trust auth)."""
from __future__ import annotations

import contextlib
import os
import uuid
from typing import Iterator

import psycopg2

PG_ADMIN_DSN = os.environ.get("SANDBOX_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")


@contextlib.contextmanager
def postgres_database(label: str = "test") -> Iterator[str]:
    """Create ``tuibao_<label>_<random>``; yield its SQLAlchemy URL; drop it (forcefully)."""
    name = f"tuibao_{label}_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=10)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
