"""A second insurer in the same service, and the holder lookup.

Policies and tokens say which insurer they belong to (rows from before are the sandbox's); a
token may open every policy of one holder (after a lookup) instead of one policy; lookup
challenges keep the phone and a hash of the holder's ID number.

Revision ID: 0003_insurers_and_lookup
Revises: 0002_refund_date_basis
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_insurers_and_lookup"
down_revision = "0002_refund_date_basis"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sbx_policies", sa.Column("insurer", sa.String(16), nullable=False,
                                            server_default="sandbox"))
    with op.batch_alter_table("sbx_holder_tokens") as batch:
        batch.add_column(sa.Column("insurer", sa.String(16), nullable=False, server_default="sandbox"))
        batch.add_column(sa.Column("holder_phone", sa.String(11)))
        batch.add_column(sa.Column("holder_key", sa.String(64)))
        batch.alter_column("policy_id", existing_type=sa.Integer, nullable=True)
    op.create_table(
        "sbx_lookup_challenges",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("insurer", sa.String(16), nullable=False),
        sa.Column("phone", sa.String(11), nullable=False),
        sa.Column("holder_key", sa.String(64), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("used_at", sa.DateTime),
    )


def downgrade() -> None:
    op.drop_table("sbx_lookup_challenges")
    op.execute("DELETE FROM sbx_holder_tokens WHERE policy_id IS NULL")
    with op.batch_alter_table("sbx_holder_tokens") as batch:
        batch.alter_column("policy_id", existing_type=sa.Integer, nullable=False)
        batch.drop_column("holder_key")
        batch.drop_column("holder_phone")
        batch.drop_column("insurer")
    with op.batch_alter_table("sbx_policies") as batch:
        batch.drop_column("insurer")
