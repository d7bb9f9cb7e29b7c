"""Read-only queries for people: one hand-off's timeline, the recent log, counts per status."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.db.models import Attempt, Handoff, Job, StatusLogEntry
from worker.db.readable import read_rows
from worker.domain.enums import JobState
from worker.domain.moments import local
from worker.domain.privacy import mask_name, mask_phone
from worker.domain.reason_codes import stored
from worker.domain.statuses import status_label

LOG_LIMIT_MAX = 10_000


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Handoff.status, func.count()).group_by(Handoff.status))
    return {status: n for status, n in rows}


def find_handoffs(session: Session, code: str) -> list[Handoff]:
    """By dossier code, order number or item code; newest generation first."""
    return read_rows(session, select(Handoff).where(
        (Handoff.dossier_code == code) | (Handoff.order_number == code)
        | (Handoff.item_code == code)
    ).order_by(Handoff.direction, Handoff.generation.desc()), Handoff.id, entities=True)


def timeline(session: Session, handoff: Handoff) -> dict[str, Any]:
    events = read_rows(session, select(StatusLogEntry).where(
        StatusLogEntry.handoff_id == handoff.id).order_by(StatusLogEntry.occurred_at,
                                                          StatusLogEntry.id),
        StatusLogEntry.id, entities=True)
    jobs = read_rows(session, select(Job).where(Job.handoff_id == handoff.id).order_by(Job.id),
                     Job.id, entities=True)
    tries: dict[int, list[Attempt]] = defaultdict(list)
    if jobs:  # every try of every row in one query, not a query (a round trip) per row
        for a in read_rows(session, select(Attempt).join(Job, Job.id == Attempt.job_id)
                           .where(Job.handoff_id == handoff.id).order_by(Attempt.id),
                           Attempt.id, entities=True):
            tries[a.job_id].append(a)
    return {
        "dossier_code": handoff.dossier_code, "direction": handoff.direction,
        "generation": handoff.generation, "order_number": handoff.order_number,
        "item_code": handoff.item_code, "status": handoff.status,
        "status_label": status_label(handoff.status), "reason": handoff.status_reason,
        "citizen": mask_name(handoff.citizen_name), "phone": mask_phone(handoff.citizen_phone),
        "agency": handoff.agency_name, "ready_at": local(handoff.ready_at),
        "events": [event_row(e) for e in events],
        "jobs": [{
            "id": j.id, "kind": j.kind, "state": j.state, "attempts": j.attempts,
            "next_attempt_at": local(j.next_attempt_at) if j.state == JobState.PENDING else "",
            "last_error": j.last_error,
            "tries": [{"n": a.number, "outcome": a.outcome, "error": a.error, "at": local(a.at)}
                      for a in tries[j.id]],
        } for j in jobs],
    }


def event_row(e: StatusLogEntry) -> dict[str, Any]:
    return {
        "id": e.id, "at": local(e.occurred_at), "recorded_at": local(e.recorded_at),
        "dossier_code": e.dossier_code, "order_number": e.order_number, "source": e.source,
        "status": e.status or "", "status_label": status_label(e.status), "raw_code": e.raw_code,
        "raw_text": e.raw_text, "post_office": e.post_office, "notes": e.notes,
        "applied": e.applied, **reason_fields(e),
    }


def reason_fields(e: StatusLogEntry) -> dict[str, str]:
    """The entry's reason as stored (code, English words) and in Vietnamese for people."""
    why = stored(e.reason_code, e.reason_params, e.reason or "")
    return {"reason": e.reason or "", "reason_code": why.code.value, "reason_vi": why.vi()}


def recent_log(session: Session, *, status: str | None = None, since: datetime | None = None,
               limit: int = 50) -> list[dict[str, Any]]:
    limit = min(max(1, limit), LOG_LIMIT_MAX)  # a typed 10^23 never reaches the driver
    q = select(StatusLogEntry)
    if status:
        q = q.where(StatusLogEntry.status == status)
    if since:
        q = q.where(StatusLogEntry.recorded_at >= since)
    rows = read_rows(session, q.order_by(StatusLogEntry.id.desc()).limit(limit),
                     StatusLogEntry.id, entities=True)
    return [event_row(e) for e in reversed(rows)]
