"""Dead letters (work that failed for good) and their replay once the cause is fixed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.db.models import Handoff, Job, utcnow
from worker.db.readable import read_rows
from worker.domain.enums import EventSource, JobKind, JobState
from worker.domain.ids import parse_id
from worker.domain.reason_codes import ReasonCode, reason
from worker.domain.statuses import FINAL, LABEL_VI, Status
from worker.domain.text import safe_display
from worker.service import ledger
from worker.service.flow import handoffs
from worker.service.jobs import handler_for
from worker.service.ledger import uow

if TYPE_CHECKING:
    from worker.service.runtime import Runtime


@dataclass(frozen=True)
class DeadLetter:
    job_id: int
    kind: str
    handoff_id: int
    dossier_code: str
    order_number: str
    handoff_status: str
    attempts: int
    reason: str
    failed_at: datetime


@dataclass(frozen=True)
class ReplayOutcome:
    job_id: int | str  # the text as given when it names no job at all
    replayed: bool
    reason: str  # Vietnamese, for ops


NOT_AN_ID = "mã việc không hợp lệ (phải là số nguyên dương)"


def dead_letters(session: Session, limit: int = 100, offset: int = 0) -> list[DeadLetter]:
    rows = read_rows(session, select(Job, Handoff).join(Handoff, Handoff.id == Job.handoff_id)
                     .where(Job.state == JobState.DEAD)
                     .order_by(Job.updated_at.desc(), Job.id.desc())
                     .limit(limit).offset(offset), Job.id)
    return [DeadLetter(j.id, j.kind, h.id, h.dossier_code, h.order_number or "", h.status,
                       j.attempts, j.last_error, j.updated_at) for j, h in rows]


def count_dead(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Job)
                              .where(Job.state == JobState.DEAD)) or 0)


def replay(rt: Runtime, job_ids: list[int | str], *, actor: str) -> list[ReplayOutcome]:
    """Put dead rows back in the ledger. A replayed post reuses its OrderNumber, so an order
    that already exists at the carrier is answered 101 and never created twice.

    Ids come as typed (form values, CLI arguments): one that names no possible row (10^23,
    -1, "abc") is refused by its own outcome and never reaches the database driver.
    Each row is its own unit of work (revived, committed); the rows of the whole request are
    rung together at its end."""
    outcomes = []
    with uow.batch(rt):
        for raw in dict.fromkeys(job_ids):
            job_id = parse_id(raw)
            if job_id is None:
                outcomes.append(ReplayOutcome(safe_display(raw, 30), False, NOT_AN_ID))
                continue
            with uow.begin(rt) as s:
                outcomes.append(_replay_one(s, job_id, actor))
    return outcomes


def _replay_one(s: Session, job_id: int, actor: str) -> ReplayOutcome:
    job = s.get(Job, job_id)
    if job is None:
        return ReplayOutcome(job_id, False, "không có việc này")
    if job.state != JobState.DEAD:
        return ReplayOutcome(job_id, False, "việc này không ở trạng thái lỗi")
    h = handoffs.locked(s, job.handoff_id)
    handler = handler_for(job.kind)
    if (handler is None or not handler.REPLAY_WHEN_FINAL) and Status(h.status) in FINAL:
        return ReplayOutcome(job_id, False, f"hồ sơ đã kết thúc ({LABEL_VI[Status(h.status)]}); "
                                            "không gửi lại yêu cầu tới bưu điện")
    ledger.revive(s, job.idempotency_key)
    note = f"chạy lại bởi {actor}"
    if job.kind == JobKind.POST_ORDER and h.status == Status.NEEDS_ATTENTION:
        handoffs.log(s, h, handoffs.Change(Status.REQUESTED, EventSource.OPS, utcnow(), notes=note),
                     True, reason(ReasonCode.REPLAYED))
        handoffs.set_status(h, Status.REQUESTED, utcnow())
    else:
        handoffs.log(s, h, handoffs.Change(None, EventSource.OPS, utcnow(), notes=note), True,
                     reason(ReasonCode.REPLAYED, kind=job.kind))
    return ReplayOutcome(job_id, True, "đã đưa vào hàng đợi chạy lại")
