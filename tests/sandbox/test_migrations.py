"""The sandbox's migrations give the database the models describe, on SQLite and PostgreSQL,
and the statements run on every identity check use an index rather than scan a table that
grows with every check."""
from __future__ import annotations

import sqlalchemy as sa

from sandbox_insurer.db import Database
from sandbox_insurer.models import Base
from tests.support.postgres import postgres_database


def _indexes(engine) -> dict:
    inspector = sa.inspect(engine)
    return {table: {tuple(index["column_names"]) for index in inspector.get_indexes(table)}
            for table in inspector.get_table_names() if table.startswith("sbx_")}


def _models_indexes() -> dict:
    found = {}
    for table in Base.metadata.sorted_tables:
        found[table.name] = {tuple(c.name for c in index.columns) for index in table.indexes}
    return found


def test_migrations_give_every_index_the_models_declare(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'sandbox.db'}")
    database.migrate()
    migrated = _indexes(database.engine)
    for table, indexes in _models_indexes().items():
        assert indexes <= migrated[table], (table, indexes, migrated[table])


def test_retiring_a_policys_codes_uses_an_index(tmp_path):
    """The UPDATE of every new SMS code (sandbox_insurer/service.py, verify_holder)."""
    database = Database(f"sqlite:///{tmp_path / 'sandbox.db'}")
    database.migrate()
    with database.engine.connect() as connection:
        plan = connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN UPDATE sbx_identity_challenges SET used_at = CURRENT_TIMESTAMP "
            "WHERE policy_id = 1 AND used_at IS NULL").fetchall()
    assert "ix_sbx_identity_challenges_policy_id" in " ".join(str(row) for row in plan), plan


def test_migrations_on_postgresql():
    with postgres_database("sbxmig") as url:
        database = Database(url)
        database.migrate()
        assert ("policy_id",) in _indexes(database.engine)["sbx_identity_challenges"]
        database.engine.dispose()
