"""Databases for the privacy tests: a SQLite file and a brand-new PostgreSQL database with a
random name (dropped afterwards), so parallel runs never share tables."""
from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Iterator

import psycopg2
import pytest

PG_ADMIN_DSN = os.environ.get("TUIBAO_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")


@contextlib.contextmanager
def postgres_database(label: str = "privacy") -> Iterator[str]:
    """A fresh PostgreSQL database for one test or module; its SQLAlchemy URL."""
    name = f"tuibao_{label}_test_{uuid.uuid4().hex[:8]}"
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


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """One empty database per test, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'privacy.db'}"
    else:
        with postgres_database() as url:
            yield url
