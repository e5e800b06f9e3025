"""SMS codes sent, per subject (a phone's or a holder's hash), for the sending limits.

Revision ID: 0004_sms_sends
Revises: 0003_insurers_and_lookup
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa

revision = "0004_sms_sends"
down_revision = "0003_insurers_and_lookup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sbx_sms_sends",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subject", sa.String(80), nullable=False, index=True),
        sa.Column("sent_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sbx_sms_sends")
