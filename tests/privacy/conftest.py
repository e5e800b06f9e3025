"""Databases for the privacy tests: a SQLite file and a brand-new PostgreSQL database with a
random name (dropped afterwards), so parallel runs never share tables."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from tests.support.postgres import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """One empty database per test, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'privacy.db'}"
    else:
        with postgres_database() as url:
            yield url
