"""The desk's paperwork: hand-over records and their rows, the fee (COD) ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from worker.db.clock import utcnow
from worker.db.models.base import Base, UTCDateTime


class HandoverRecord(Base):
    """A hand-over record (biên bản bàn giao) the agency and the postal worker sign: which
    envelopes the courier took (result delivery) or which dossiers they brought (pickup).
    Open until the desk marks it handed over or the carrier's event closes it (migration 0012,
    worker/service/flow/handover.py)."""

    __tablename__ = "handover_records"
    __table_args__ = (Index("ix_handover_open", "closed_at", "created_at"),
                      Index("ix_handover_content", "agency_code", "direction", "content_key"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(80), unique=True)  # BB-<agency>-<yyyymmdd>-<nnn>
    agency_code: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(20))
    content_key: Mapped[str] = mapped_column(String(64))  # sha256 of the hand-off ids
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str] = mapped_column(String(80), default="")
    closed_how: Mapped[str | None] = mapped_column(String(16))  # ClosedHow: desk, carrier,
    # cancelled or replaced; replaced_by: the number of the record that replaced it
    replaced_by: Mapped[str | None] = mapped_column(String(80))
    # what it prints, stored when made: a reprint is this, not the hand-offs as they are now
    printed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class HandoverRecordItem(Base):
    """One hand-off on a record; `open_handoff_id` (unique) is set while the record is
    open, so a hand-off is on at most one open record."""

    __tablename__ = "handover_record_items"
    __table_args__ = (Index("uq_handover_item_open", "open_handoff_id", unique=True),
                      Index("ix_handover_item_handoff", "handoff_id"))

    record_id: Mapped[int] = mapped_column(ForeignKey("handover_records.id"), primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    open_handoff_id: Mapped[int | None] = mapped_column(Integer)


class CodLedger(Base):
    """The fee reconciliation (COD) of one hand-off, from the carrier's tracking feed: when
    the courier collected the fee from the citizen (code 6) and when the post office paid
    it to the agency (code 8), by which feed event, and the amount each reported when the
    doc carried one (None: not reported; the contract has no amount field). What was
    expected is the hand-off's own `cod_amount` (sent as CODAmount on the order). The first
    event of each kind is kept; a repeat changes nothing (worker/service/flow/cod.py)."""

    __tablename__ = "cod_ledger"

    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), primary_key=True)
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    collected_event: Mapped[str | None] = mapped_column(String(64))
    collected_amount: Mapped[int | None] = mapped_column(BigInteger)
    remitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remitted_event: Mapped[str | None] = mapped_column(String(64))
    remitted_amount: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
