"""An index on the policy of an identity challenge.

A new SMS code retires the policy's earlier unused ones (an UPDATE by ``policy_id``): without an
index it scanned every challenge ever sent, a cost that grew with every identity check
(bench/load.py adds hundreds a run). (Cases are found by policy through the index of their
``(policy_id, idempotency_key)`` constraint.)

Revision ID: 0005_challenge_policy_index
Revises: 0004_sms_sends
Create Date: 2026-12-07
"""
from alembic import op

revision = "0005_challenge_policy_index"
down_revision = "0004_sms_sends"
branch_labels = None
depends_on = None

INDEXES = (("ix_sbx_identity_challenges_policy_id", "sbx_identity_challenges"),)


def upgrade() -> None:
    for name, table in INDEXES:
        op.create_index(name, table, ["policy_id"])


def downgrade() -> None:
    for name, table in INDEXES:
        op.drop_index(name, table_name=table)
