"""Quotes and cases record how their expected refund date was counted.

``official_calendar``: on the State Council holiday calendar (chinesecalendar); ``weekdays_estimate``:
some day fell in a year the library has no data for, so Monday–Friday were counted. Rows from
before this revision were all counted on the calendar (the sandbox refused otherwise).

Revision ID: 0002_refund_date_basis
Revises: 0001_initial
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0002_refund_date_basis"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TABLES = ("sbx_quotes", "sbx_cases")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("expected_refund_date_basis", sa.String(24), nullable=False,
                                       server_default="official_calendar"))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("expected_refund_date_basis")
