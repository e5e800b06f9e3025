"""Alembic environment: run by ``Database.migrate`` with an open connection, or from the
command line with ``-x url=...`` (``alembic -c sandbox_insurer/alembic.ini upgrade head``)."""
from alembic import context
from sqlalchemy import create_engine

from sandbox_insurer.models import Base
from sandbox_insurer.settings import Settings

config = context.config
target_metadata = Base.metadata
VERSION_TABLE = "sbx_alembic_version"  # ours, so it never meets another tool's alembic table


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          version_table=VERSION_TABLE, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or Settings.from_env().database_url
    engine = create_engine(url)
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          version_table=VERSION_TABLE, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; give a database URL")
run_migrations_online()
