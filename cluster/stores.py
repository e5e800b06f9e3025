"""The cluster's databases on the machine's PostgreSQL, and its keys in the machine's Redis."""
from __future__ import annotations

from typing import Iterable

from cluster.settings import ClusterSettings


def _admin_connection(settings: ClusterSettings):
    import psycopg2

    connection = psycopg2.connect(host=settings.pg_host, port=settings.pg_port,
                                  user=settings.pg_user, password=settings.pg_password or None,
                                  dbname="postgres", connect_timeout=5)
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    return connection


def databases(settings: ClusterSettings) -> Iterable[str]:
    return (settings.tracker_db, settings.handoff_db, settings.credentials_db)


def create_databases(settings: ClusterSettings) -> None:
    """Create the tracker, handoff and credentials databases if they are missing."""
    connection = _admin_connection(settings)
    try:
        with connection.cursor() as cursor:
            for name in databases(settings):
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


def drop_databases(settings: ClusterSettings) -> None:
    connection = _admin_connection(settings)
    try:
        with connection.cursor() as cursor:
            for name in databases(settings):
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        connection.close()


def forget_redis_keys(settings: ClusterSettings) -> int:
    """Delete the cluster's lock and channel keys (its own databases, its own prefixes)."""
    import redis

    removed = 0
    for db, patterns in ((settings.redis_lock_db, ("tuibao*",)),
                         (settings.redis_channel_db, (f"{settings.redis_prefix}*",))):
        client = redis.Redis(host=settings.redis_host, port=settings.redis_port, db=db,
                             socket_timeout=5)
        try:
            for pattern in patterns:
                keys = list(client.scan_iter(match=pattern, count=500))
                for start in range(0, len(keys), 500):
                    removed += client.delete(*keys[start:start + 500])
        finally:
            client.close()
    return removed
