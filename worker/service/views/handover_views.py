"""Read models of the desk's paper: a stored hand-over record with its rows, the envelope
slips of the hand-offs the courier is to take, the open records a desk page lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.db.models import HandoverRecord, HandoverRecordItem
from worker.domain.errors import InvalidInput
from worker.domain.handover import TITLE_VI, Refusal, no_record
from worker.domain.moments import to_vn
from worker.domain.statuses import Direction
from worker.service.flow.handover import chosen
from worker.service.flow.handover_rows import ROW_FIELDS, sender, ward


@dataclass(frozen=True)
class RecordRow:
    dossier_code: str
    order_number: str
    procedure_name: str
    person: str  # the recipient (result delivery) or the sender (collection)
    ward: str
    cod_amount: int


@dataclass(frozen=True)
class RecordView:
    number: str
    title: str
    direction: str
    agency_code: str
    agency_name: str
    agency_address: str
    created_at: datetime  # also the PDF's creation date: the same record, the same bytes
    created_by: str
    rows: list[RecordRow]

    @property
    def created_local(self) -> str:
        """'08:00 ngày 26 tháng 11 năm 2026' (Vietnam's time)."""
        t = to_vn(self.created_at)
        assert t is not None
        return f"{t:%H:%M} ngày {t.day} tháng {t.month} năm {t.year}"

    @property
    def cod_total(self) -> int:
        return sum(r.cod_amount for r in self.rows)


@dataclass(frozen=True)
class SlipView:
    """One envelope: the phone in full (only here, for delivery)."""

    order_number: str
    dossier_code: str
    recipient: str
    phone: str
    address: str
    sender_name: str
    sender_address: str
    sender_tel: str


@dataclass(frozen=True)
class OpenRecord:
    number: str
    direction: str
    created_at: datetime
    created_by: str
    count: int

    @property
    def created_local(self) -> str:
        t = to_vn(self.created_at)
        return f"{t:%H:%M %d/%m/%Y}" if t else ""


def record(session: Session, number: str, agency_code: str | None = None) -> RecordView:
    """The record as printed when it was made (stored on it: handover_rows.printed), never
    the hand-offs as they are now; a clerk sees their agency's only."""
    r = session.scalar(select(HandoverRecord).where(HandoverRecord.number == number))
    if r is None or (agency_code and r.agency_code != agency_code):
        raise no_record(number)
    p = r.printed
    return RecordView(
        r.number, TITLE_VI[Direction(r.direction)], r.direction, r.agency_code,
        p["agency_name"], p["agency_address"], r.created_at, r.created_by,
        [RecordRow(**{f: row[f] for f in ROW_FIELDS}) for row in p["rows"]])


@dataclass(frozen=True)
class SlipSheet:
    slips: list[SlipView]
    created_at: datetime  # the latest call of the courier among them: the same slips, bytes


def slips(session: Session, agency_code: str | None, codes: list[str] | None) -> SlipSheet:
    """A slip per result-delivery hand-off waiting for the courier (all, or those named)."""
    rows = chosen(session, agency_code, Direction.RESULT_DELIVERY, codes)
    bare = [h.dossier_code for h in rows if not h.order_number]
    if bare:  # a slip without its order's barcode is no use to the courier
        raise InvalidInput(f"hồ sơ {', '.join(bare[:5])} chưa có số hiệu đơn của bưu điện, "
                           f"chưa in được phiếu gửi", field="codes", code=Refusal.NO_ORDER_NUMBER)
    name, address, tel = sender(session, rows[0].agency_code, rows[0].agency_name)
    moment = max(h.accepted_at or h.ready_at for h in rows)
    return SlipSheet([SlipView(h.order_number or "", h.dossier_code, h.citizen_name,
                               h.citizen_phone,
                               ", ".join(p for p in (h.citizen_address, ward(h)) if p),
                               name, address, tel) for h in rows], moment)


def open_records(session: Session, agency_code: str | None) -> list[OpenRecord]:
    """Records still open (the courier has not signed or the carrier not settled them)."""
    q = (select(HandoverRecord, func.count(HandoverRecordItem.handoff_id))
         .join(HandoverRecordItem, HandoverRecordItem.record_id == HandoverRecord.id)
         .where(HandoverRecord.closed_at.is_(None)).group_by(HandoverRecord.id)
         .order_by(HandoverRecord.created_at.desc()))
    if agency_code:
        q = q.where(HandoverRecord.agency_code == agency_code)
    return [OpenRecord(r.number, r.direction, r.created_at, r.created_by, n)
            for r, n in session.execute(q)]
