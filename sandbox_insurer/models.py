"""Database tables of the sandbox insurer (SQLAlchemy 1.4). Money is integer fen; instants are
stored as naive UTC and handed out in Asia/Shanghai. Schema changes go through migrations/."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, String,
                        Text, UniqueConstraint, text)
from sqlalchemy.orm import declarative_base, relationship
from sqlalchemy.types import TypeDecorator

from .clock import SHANGHAI

Base = declarative_base()

OPEN_STATES = ("APPLY", "AGREE")


class UtcDateTime(TypeDecorator):
    """An aware datetime stored as naive UTC (SQLite keeps no offset)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to UtcDateTime")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc).astimezone(SHANGHAI)


class Policy(Base):
    __tablename__ = "sbx_policies"

    id = Column(Integer, primary_key=True)
    insurer = Column(String(16), nullable=False, default="sandbox", server_default="sandbox")
    policy_number = Column(String(16), nullable=False, unique=True)
    product_code = Column(String(16), nullable=False)
    status = Column(String(16), nullable=False)  # in_force | terminated
    premium_fen = Column(Integer, nullable=False)  # one premium (annual for CI_WL_20PAY)
    premiums_paid = Column(Integer, nullable=False, default=1)
    paper_policy = Column(Boolean, nullable=False, default=False)
    cover_start = Column(Date, nullable=False)  # trip start / issue date
    cover_end = Column(Date)
    receipt_date = Column(Date)
    claim_paid_fen = Column(Integer, nullable=False, default=0)
    policy_loan_fen = Column(Integer, nullable=False, default=0)
    holder_name = Column(String(32), nullable=False)
    holder_id_number = Column(String(18), nullable=False)
    holder_phone = Column(String(11), nullable=False)
    bank_name = Column(String(32), nullable=False)
    bank_card_last4 = Column(String(4), nullable=False)

    cases = relationship("SurrenderCase", back_populates="policy")


class IdentityChallenge(Base):
    __tablename__ = "sbx_identity_challenges"

    id = Column(String(64), primary_key=True)
    policy_id = Column(Integer, ForeignKey("sbx_policies.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    code_hash = Column(String(64), nullable=False)
    created_at = Column(UtcDateTime, nullable=False)
    expires_at = Column(UtcDateTime, nullable=False)
    used_at = Column(UtcDateTime)

    policy = relationship("Policy")


class IdentityFailure(Base):
    """One failed attempt (wrong ID suffix or code) against a subject: ``policy:SBX…`` or, for
    numbers that match nothing, the number as given, so unknown numbers lock the same way."""

    __tablename__ = "sbx_identity_failures"

    id = Column(Integer, primary_key=True)
    subject = Column(String(64), nullable=False, index=True)
    failed_at = Column(UtcDateTime, nullable=False)


class IdentityLock(Base):
    __tablename__ = "sbx_identity_locks"

    subject = Column(String(64), primary_key=True)
    locked_until = Column(UtcDateTime, nullable=False)


class LookupChallenge(Base):
    """An SMS code sent for a holder lookup (phone + ID suffix). The holder is kept as the
    SHA-256 of the ID number, never the number."""

    __tablename__ = "sbx_lookup_challenges"

    id = Column(String(64), primary_key=True)
    insurer = Column(String(16), nullable=False)
    phone = Column(String(11), nullable=False)
    holder_key = Column(String(64), nullable=False)
    code_hash = Column(String(64), nullable=False)
    created_at = Column(UtcDateTime, nullable=False)
    expires_at = Column(UtcDateTime, nullable=False)
    used_at = Column(UtcDateTime)


class HolderToken(Base):
    """A session token after a passed identity check; only its SHA-256 is kept. It opens one
    policy (``policy_id``) or, after a holder lookup, every policy of that holder at that
    insurer (``holder_phone`` + ``holder_key``)."""

    __tablename__ = "sbx_holder_tokens"

    token_hash = Column(String(64), primary_key=True)
    insurer = Column(String(16), nullable=False, default="sandbox", server_default="sandbox")
    policy_id = Column(Integer, ForeignKey("sbx_policies.id", ondelete="CASCADE"))
    holder_phone = Column(String(11))
    holder_key = Column(String(64))
    expires_at = Column(UtcDateTime, nullable=False)

    policy = relationship("Policy")


class Quote(Base):
    __tablename__ = "sbx_quotes"

    id = Column(String(64), primary_key=True)
    policy_id = Column(Integer, ForeignKey("sbx_policies.id", ondelete="CASCADE"), nullable=False)
    basis = Column(String(32), nullable=False)
    lines_json = Column(Text, nullable=False)
    refund_fen = Column(Integer, nullable=False)
    route_kind = Column(String(16), nullable=False)
    route_display = Column(String(64), nullable=False)
    quoted_on = Column(Date, nullable=False)
    expected_refund_date = Column(Date, nullable=False)
    expected_refund_date_basis = Column(String(24), nullable=False, default="official_calendar",
                                        server_default="official_calendar")
    legal_latest_date = Column(Date, nullable=False)
    created_at = Column(UtcDateTime, nullable=False)
    valid_until = Column(UtcDateTime, nullable=False)

    policy = relationship("Policy")


class SurrenderCase(Base):
    __tablename__ = "sbx_cases"
    __table_args__ = (
        UniqueConstraint("policy_id", "idempotency_key", name="uq_sbx_cases_idempotency"),
        # At most one open case per policy, enforced by the database under concurrency.
        Index("uq_sbx_cases_one_open", "policy_id", unique=True,
              sqlite_where=text("state IN ('APPLY', 'AGREE')"),
              postgresql_where=text("state IN ('APPLY', 'AGREE')")),
    )

    id = Column(Integer, primary_key=True)
    case_number = Column(String(16), nullable=False, unique=True)
    policy_id = Column(Integer, ForeignKey("sbx_policies.id", ondelete="CASCADE"), nullable=False)
    quote_id = Column(String(64))
    idempotency_key = Column(String(64), nullable=False)
    state = Column(String(8), nullable=False)
    reason = Column(String(200))
    submitted_on = Column(Date, nullable=False)
    expected_refund_date = Column(Date, nullable=False)
    expected_refund_date_basis = Column(String(24), nullable=False, default="official_calendar",
                                        server_default="official_calendar")
    legal_latest_date = Column(Date, nullable=False)
    refund_fen = Column(Integer, nullable=False)
    route_kind = Column(String(16), nullable=False)
    route_display = Column(String(64), nullable=False)
    auto_advance = Column(Boolean, nullable=False, default=True)
    created_at = Column(UtcDateTime, nullable=False)
    updated_at = Column(UtcDateTime, nullable=False)

    policy = relationship("Policy", back_populates="cases")


class Counter(Base):
    """Named sequences (the case number's 6-digit sequence), incremented under a row lock."""

    __tablename__ = "sbx_counters"

    name = Column(String(32), primary_key=True)
    value = Column(Integer, nullable=False)


class SmsSend(Base):
    """One SMS code sent, counted against each subject it was sent for (the phone and the
    holder), for the sending limits; no personal data (subjects are hashes)."""

    __tablename__ = "sbx_sms_sends"

    id = Column(Integer, primary_key=True)
    subject = Column(String(80), nullable=False, index=True)
    sent_at = Column(UtcDateTime, nullable=False)


class SmsMessage(Base):
    """The sandbox's SMS outbox: what a real insurer would have sent to the phone."""

    __tablename__ = "sbx_sms_outbox"

    id = Column(Integer, primary_key=True)
    phone = Column(String(11), nullable=False, index=True)
    code = Column(String(6), nullable=False)
    text = Column(String(200), nullable=False)
    sent_at = Column(UtcDateTime, nullable=False)
