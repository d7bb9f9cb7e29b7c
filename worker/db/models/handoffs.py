"""The hand-off, its delivery-status log, its SLA marks, and the receipts that make inbound
entries (feed items, webhooks, carrier pushes) count once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from worker.db.clock import utcnow
from worker.db.models.base import Base, UTCDateTime


class Handoff(Base):
    """One postal hand-off of one dossier in one direction (and generation)."""

    __tablename__ = "handoffs"
    __table_args__ = (
        UniqueConstraint("dossier_code", "direction", "generation", name="uq_handoff_dossier"),
        Index("ix_handoffs_status", "status"),
        Index("ix_handoffs_agency_status", "agency_code", "status"),
        # the ops search and lists (migration 0014): by phone, by the beginning of a
        # dossier code (LIKE 'q%': pattern ops on PostgreSQL), newest first, and the
        # overview's name of each agency
        Index("ix_handoffs_citizen_phone", "citizen_phone"),
        Index("ix_handoffs_dossier_prefix", "dossier_code",
              postgresql_ops={"dossier_code": "varchar_pattern_ops"}),
        Index("ix_handoffs_ready_at", "ready_at", "id"),
        Index("ix_handoffs_agency_name", "agency_code", "agency_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_code: Mapped[str] = mapped_column(String(80))
    direction: Mapped[str] = mapped_column(String(20))
    generation: Mapped[int] = mapped_column(Integer, default=1)
    order_number: Mapped[str | None] = mapped_column(String(50), unique=True)
    source_item_id: Mapped[str] = mapped_column(String(80))
    agency_code: Mapped[str] = mapped_column(String(40), default="")
    agency_name: Mapped[str] = mapped_column(String(200), default="")
    procedure_code: Mapped[str] = mapped_column(String(40), default="")
    procedure_name: Mapped[str] = mapped_column(String(300), default="")
    citizen_name: Mapped[str] = mapped_column(String(200), default="")
    citizen_phone: Mapped[str] = mapped_column(String(20), default="")
    citizen_email: Mapped[str | None] = mapped_column(String(200))
    citizen_address: Mapped[str] = mapped_column(String(400), default="")
    province_code: Mapped[str] = mapped_column(String(8), default="")
    ward_code: Mapped[str] = mapped_column(String(8), default="")
    cod_amount: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(24))
    status_reason: Mapped[str] = mapped_column(Text, default="")
    item_code: Mapped[str | None] = mapped_column(String(20), index=True)
    last_carrier_code: Mapped[int | None] = mapped_column(Integer)
    last_carrier_text: Mapped[str] = mapped_column(String(200), default="")
    ready_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the one-stop announced it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StatusLogEntry(Base):
    """The delivery-status log: every event received or produced, applied or not."""

    __tablename__ = "status_log"
    __table_args__ = (Index("ix_status_log_handoff", "handoff_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoffs.id"))
    dossier_code: Mapped[str] = mapped_column(String(80), default="", index=True)
    order_number: Mapped[str] = mapped_column(String(50), default="")
    source: Mapped[str] = mapped_column(String(16))  # feed, webhook, desk, worker, onestop
    status: Mapped[str | None] = mapped_column(String(24))
    raw_code: Mapped[str] = mapped_column(String(16), default="")
    raw_text: Mapped[str] = mapped_column(String(400), default="")
    post_office: Mapped[str] = mapped_column(String(40), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")  # the English words, for scripts
    # the reason as data (worker/domain/reason_codes.py): words are looked up when shown
    reason_code: Mapped[str | None] = mapped_column(String(40))
    reason_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class SlaBreach(Base):
    """A hand-off that broke an SLA rule; notified once per hand-off and rule."""

    __tablename__ = "sla_breaches"
    __table_args__ = (UniqueConstraint("handoff_id", "rule", name="uq_sla_breach"),
                      # the open ones only: the late list (migration 0014)
                      Index("ix_sla_breaches_open", "handoff_id",
                            postgresql_where=text("cleared_at IS NULL"),
                            sqlite_where=text("cleared_at IS NULL")))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    rule: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Receipt(Base):
    """Inbound ids already taken (feed items, webhooks): dedup by unique index."""

    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_receipt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(120))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CarrierPushReceipt(Base):
    """A status push the carrier sent, by its `ems-transaction` id: the carrier re-sends
    the same id until it is answered "success", and a re-sent one is answered again
    without being applied twice. `content_key` (a hash of the order, status code and time
    the push told; integrations/carriers/vnpost/push.py) holds the same content under a new id to
    one receipt too: a captured push replayed with fresh ids is taken once."""

    __tablename__ = "carrier_push_receipts"
    __table_args__ = (UniqueConstraint("agency_code", "transaction_id",
                                       name="uq_push_receipt"),
                      Index("uq_push_receipt_content", "agency_code", "content_key",
                            unique=True))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_code: Mapped[str] = mapped_column(String(40))
    transaction_id: Mapped[str] = mapped_column(String(100))
    order_number: Mapped[str] = mapped_column(String(50), default="")
    content_key: Mapped[str | None] = mapped_column(String(64))  # None: stored before 0010
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
