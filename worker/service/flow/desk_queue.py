"""The desk's queue, defined once: who waits for the desk to call the courier, who has one called.

Every door reads these (the desk page, the desk API, `handoff pickup pending`, the settings
page's counts), so they can never disagree. A hand-off is in at most one list:

- waiting: `requested` and no live post (none, or only a dead one). A dead post means the
  last call failed for good and its cause was since corrected (a corrected item revives the
  hand-off to `requested` without posting in desk dispatch): nobody is coming, so the desk
  must call again, and "Gọi bưu tá" revives that post. Listing it as "ordered" would say a
  courier is on the way when none is.
- ordered: `accepted` or `pickup_failed`, or `requested` with a live post (on its way to the
  carrier, or stopped by a cancel still on its way).
- neither: everything else (`needs_attention` is ops' and the one-stop's to fix; picked up
  and later, and final hand-offs, are no longer the desk's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVarTuple

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from worker.db.models import Handoff, Job, StatusLogEntry, utcnow
from worker.db.readable import read_rows
from worker.domain.enums import JobKind, JobState
from worker.domain.privacy import mask_phone
from worker.domain.reason_codes import ReasonCode
from worker.domain.statuses import Status
from worker.domain.validation import province_name, ward_name

MAX_ORDERED = 300  # rows a page shows; the newest first
Ts = TypeVarTuple("Ts")
MAX_PENDING = 500  # waiting rows a door lists; the oldest first (the total is told apart)


def _live_post() -> ColumnElement[bool]:
    return select(Job.id).where(Job.handoff_id == Handoff.id, Job.state != JobState.DEAD,
                                Job.kind == JobKind.POST_ORDER).exists()


def is_waiting() -> ColumnElement[bool]:
    """The one definition of "waiting for the desk" (see the module docstring)."""
    return and_(Handoff.status == Status.REQUESTED.value, ~_live_post())


def is_ordered() -> ColumnElement[bool]:
    """Courier called, item not taken yet; never true together with is_waiting()."""
    return or_(Handoff.status.in_([Status.ACCEPTED.value, Status.PICKUP_FAILED.value]),
               and_(Handoff.status == Status.REQUESTED.value, _live_post()))


@dataclass(frozen=True)
class Waiting:
    """A hand-off waiting for the desk to call the courier."""

    handoff_id: int
    dossier_code: str
    direction: str
    procedure_name: str
    citizen_name: str
    phone_masked: str
    place: str
    ready_at: datetime
    waited_seconds: int
    called_before: bool = False  # an earlier call failed for good; calling again retries it


@dataclass(frozen=True)
class Ordered:
    """A hand-off whose courier was called but has not taken the item yet."""

    dossier_code: str
    status: str
    procedure_name: str
    citizen_name: str
    order_number: str
    since: datetime
    cancelling: bool  # a cancel is on its way to the carrier
    cancel_refused: bool  # the carrier refused a cancel: the courier is coming all the same


@dataclass(frozen=True)
class WaitingList:
    """The waiting list as every door shows it: the oldest MAX_PENDING, and how many wait."""

    items: list[Waiting]
    total: int  # every hand-off waiting in the scope, listed or not

    @property
    def truncated(self) -> bool:
        """Some waiting hand-offs are not in `items` (past the bound, or unreadable)."""
        return self.total > len(self.items)


def _scoped(q: Select[*Ts], agency_code: str | None) -> Select[*Ts]:
    return q.where(Handoff.agency_code == agency_code) if agency_code else q


def pending(session: Session, agency_code: str | None = None,
            limit: int = MAX_PENDING) -> list[Waiting]:
    """Hand-offs waiting for the desk, oldest first, at most `limit`; a row whose stored
    values cannot be read is logged by id and left out (readable.read_rows)."""
    dead_post = select(Job.id).where(Job.handoff_id == Handoff.id, Job.state == JobState.DEAD,
                                     Job.kind == JobKind.POST_ORDER).exists()
    q = _scoped(select(Handoff, dead_post).where(is_waiting()), agency_code)
    now = utcnow()
    rows = read_rows(session, q.order_by(Handoff.ready_at, Handoff.id).limit(limit), Handoff.id)
    return [Waiting(h.id, h.dossier_code, h.direction, h.procedure_name, h.citizen_name,
                    mask_phone(h.citizen_phone), _place(h), h.ready_at,
                    int((now - h.ready_at).total_seconds()), bool(called))
            for h, called in rows]


def waiting_list(session: Session, agency_code: str | None = None) -> WaitingList:
    """pending() with the count of all that wait, so a door can say when it shows fewer."""
    total = session.scalar(_scoped(select(func.count()).select_from(Handoff)
                                   .where(is_waiting()), agency_code))
    return WaitingList(pending(session, agency_code), int(total or 0))


def ordered(session: Session, agency_code: str | None = None) -> list[Ordered]:
    """Hand-offs with a courier called, the most recently changed first, at most
    MAX_ORDERED; unreadable rows are left out as in pending()."""
    # a cancel still on its way; a done one ends the hand-off or was refused
    cancelling = select(Job.id).where(Job.handoff_id == Handoff.id, Job.state == JobState.PENDING,
                                      Job.kind == JobKind.CANCEL_ORDER).exists()
    refused = select(StatusLogEntry.id).where(
        StatusLogEntry.handoff_id == Handoff.id,
        StatusLogEntry.reason_code == ReasonCode.CANCEL_REFUSED_BY_CARRIER.value).exists()
    q = _scoped(select(Handoff, cancelling, refused).where(is_ordered()), agency_code)
    rows = read_rows(session, q.order_by(Handoff.updated_at.desc(), Handoff.id.desc())
                     .limit(MAX_ORDERED), Handoff.id)
    return [Ordered(h.dossier_code, h.status, h.procedure_name, h.citizen_name,
                    h.order_number or "", h.accepted_at or h.updated_at, bool(busy),
                    bool(no))
            for h, busy, no in rows]


def waiting_by_agency(session: Session) -> dict[str, int]:
    """How many hand-offs wait at the desk, per agency code."""
    q = (select(Handoff.agency_code, func.count()).where(is_waiting())
         .group_by(Handoff.agency_code))
    return {code: n for code, n in session.execute(q)}


def _place(h: Handoff) -> str:
    try:
        return f"{ward_name(h.ward_code)}, {province_name(h.province_code)}"
    except (ValueError, KeyError):
        return ""
