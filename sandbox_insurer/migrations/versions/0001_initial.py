"""Initial schema: policies, identity check, quotes, cases, counters, SMS outbox.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sbx_policies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("policy_number", sa.String(16), nullable=False, unique=True),
        sa.Column("product_code", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("premium_fen", sa.Integer, nullable=False),
        sa.Column("premiums_paid", sa.Integer, nullable=False),
        sa.Column("paper_policy", sa.Boolean, nullable=False),
        sa.Column("cover_start", sa.Date, nullable=False),
        sa.Column("cover_end", sa.Date),
        sa.Column("receipt_date", sa.Date),
        sa.Column("claim_paid_fen", sa.Integer, nullable=False),
        sa.Column("policy_loan_fen", sa.Integer, nullable=False),
        sa.Column("holder_name", sa.String(32), nullable=False),
        sa.Column("holder_id_number", sa.String(18), nullable=False),
        sa.Column("holder_phone", sa.String(11), nullable=False),
        sa.Column("bank_name", sa.String(32), nullable=False),
        sa.Column("bank_card_last4", sa.String(4), nullable=False),
    )
    op.create_table(
        "sbx_identity_challenges",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("policy_id", sa.Integer, sa.ForeignKey("sbx_policies.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("used_at", sa.DateTime),
    )
    op.create_table(
        "sbx_identity_failures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("failed_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_sbx_identity_failures_subject", "sbx_identity_failures", ["subject"])
    op.create_table(
        "sbx_identity_locks",
        sa.Column("subject", sa.String(64), primary_key=True),
        sa.Column("locked_until", sa.DateTime, nullable=False),
    )
    op.create_table(
        "sbx_holder_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("policy_id", sa.Integer, sa.ForeignKey("sbx_policies.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "sbx_quotes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("policy_id", sa.Integer, sa.ForeignKey("sbx_policies.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("basis", sa.String(32), nullable=False),
        sa.Column("lines_json", sa.Text, nullable=False),
        sa.Column("refund_fen", sa.Integer, nullable=False),
        sa.Column("route_kind", sa.String(16), nullable=False),
        sa.Column("route_display", sa.String(64), nullable=False),
        sa.Column("quoted_on", sa.Date, nullable=False),
        sa.Column("expected_refund_date", sa.Date, nullable=False),
        sa.Column("legal_latest_date", sa.Date, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("valid_until", sa.DateTime, nullable=False),
    )
    op.create_table(
        "sbx_cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_number", sa.String(16), nullable=False, unique=True),
        sa.Column("policy_id", sa.Integer, sa.ForeignKey("sbx_policies.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("quote_id", sa.String(64)),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(200)),
        sa.Column("submitted_on", sa.Date, nullable=False),
        sa.Column("expected_refund_date", sa.Date, nullable=False),
        sa.Column("legal_latest_date", sa.Date, nullable=False),
        sa.Column("refund_fen", sa.Integer, nullable=False),
        sa.Column("route_kind", sa.String(16), nullable=False),
        sa.Column("route_display", sa.String(64), nullable=False),
        sa.Column("auto_advance", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("policy_id", "idempotency_key", name="uq_sbx_cases_idempotency"),
    )
    op.create_index("uq_sbx_cases_one_open", "sbx_cases", ["policy_id"], unique=True,
                    sqlite_where=sa.text("state IN ('APPLY', 'AGREE')"),
                    postgresql_where=sa.text("state IN ('APPLY', 'AGREE')"))
    op.create_table(
        "sbx_counters",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    op.create_table(
        "sbx_sms_outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("phone", sa.String(11), nullable=False),
        sa.Column("code", sa.String(6), nullable=False),
        sa.Column("text", sa.String(200), nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_sbx_sms_outbox_phone", "sbx_sms_outbox", ["phone"])


def downgrade() -> None:
    for table in ("sbx_sms_outbox", "sbx_counters", "sbx_cases", "sbx_quotes", "sbx_holder_tokens",
                  "sbx_identity_locks", "sbx_identity_failures", "sbx_identity_challenges",
                  "sbx_policies"):
        op.drop_table(table)
