"""Moving a hand-off through the state machine, logging each event, queueing push-backs
and posts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from worker.db.models import Handoff, Job, utcnow
from worker.db.sets import among
from worker.domain.enums import EventSource, JobKind
from worker.domain.job_payloads import PostPayload, PushPayload
from worker.domain.model import StatusPush
from worker.domain.reason_codes import Reason, ReasonCode
from worker.domain.rules import push_event_id
from worker.domain.statuses import FINAL, Direction, PostalEvent, Status
from worker.domain.transitions import Decision, decide
from worker.service import ledger
from worker.service.flow import handover
from worker.service.flow.status_log import Change as Change  # (callers know them from here)
from worker.service.flow.status_log import log as log

CARRIER_SOURCES = (EventSource.CARRIER_FEED, EventSource.CARRIER_PUSH)


def apply(session: Session, handoff: Handoff, change: Change, *, push: bool = True
          ) -> tuple[Decision, Job | None]:
    """Apply a change through the state machine; log it either way; queue the push-back."""
    decision = decide(Status(handoff.status), change.status, known_code=change.known_code)
    log(session, handoff, change, decision.applied, decision.reason)
    if handoff.last_event_at is None or change.occurred_at > handoff.last_event_at:
        handoff.last_event_at = change.occurred_at
    if not decision.applied or change.status is None:
        return decision, None
    if change.raw_code.isdigit():  # before set_status, whose look-up flushes: one UPDATE
        handoff.last_carrier_code = int(change.raw_code)
        handoff.last_carrier_text = change.raw_text[:200]
    set_status(handoff, change.status, change.occurred_at, source=change.source)
    job = queue_push(session, handoff, change) if push else None
    return decision, job


def set_status(handoff: Handoff, status: Status, at: datetime, reason: str = "", *,
               source: EventSource = EventSource.WORKER) -> None:
    """Every status change goes through here, whatever its source: a change that settles
    the hand-off (the courier took it, it ended, it was cancelled) takes it off its open
    hand-over record."""
    handoff.status = status.value
    handoff.status_reason = reason
    if handoff.accepted_at is None and (status == Status.ACCEPTED
                                        or source in CARRIER_SOURCES):
        # the carrier reporting on the order has it, whether or not a post's answer said
        # so (a post whose tries timed out, left for a person, then picked up): the
        # agency's account is not changed under it (agency_admin), the desk shows it sent
        handoff.accepted_at = at
    if status in FINAL:
        handoff.final_at = at
    session = object_session(handoff)
    if session is not None and handoff.id is not None:
        handover.leave_record(session, handoff, at, source)


def needs_attention(session: Session, handoff: Handoff, reason: str,
                    source: EventSource = EventSource.WORKER) -> Job | None:
    """A permanent error: the hand-off waits for a person, with the reason in plain words."""
    if Status(handoff.status) in FINAL:
        return None
    now = utcnow()
    change = Change(Status.NEEDS_ATTENTION, source, now, notes=reason)
    log(session, handoff, change, True, Reason(ReasonCode.PERMANENT_ERROR))
    set_status(handoff, Status.NEEDS_ATTENTION, now, reason, source=source)
    return queue_push(session, handoff, change)


def queue_push(session: Session, handoff: Handoff, change: Change, *,
               event: PostalEvent | None = None, late: bool = False) -> Job | None:
    """Queue telling the one-stop the change's status, or `event` in its place (a postal
    event that moves no status); `late` marks a milestone older than the status told."""
    told = event or change.status
    assert told is not None
    key = change.dedup_key or f"{change.source}|{told}|{change.occurred_at.isoformat()}"
    event_id = push_event_id(handoff.order_number or f"h{handoff.id}", key)
    payload = PushPayload(StatusPush(
        event_id, handoff.dossier_code, Direction(handoff.direction), told, handoff.item_code,
        int(change.raw_code) if change.raw_code.isdigit() else None, change.raw_text,
        change.occurred_at, change.notes, late))
    return ledger.enqueue(session, JobKind.PUSH_STATUS, handoff.id, f"push:{event_id}",
                          payload.to_json())


def request_post(session: Session, handoff: Handoff) -> Job | None:
    """Queue the hand-off's post (its order number is its key), or revive the post that
    failed for good before (its cause since corrected: the same order number, sent again).
    None when its post is already queued, on its way or done."""
    jobs = request_posts(session, [handoff])
    return jobs[0] if jobs else None


def request_posts(session: Session, many: list[Handoff]) -> list[Job]:
    """`request_post` for many hand-offs, their new posts written in one statement (a
    one-stop feed page's); the jobs queued or revived."""
    keys = [f"post:{h.order_number}" for h in many]
    new = ledger.enqueue_many(session, JobKind.POST_ORDER, [
        (h.id, key, PostPayload().to_json()) for h, key in zip(many, keys, strict=True)])
    jobs = [job or ledger.revive(session, key) for job, key in zip(new, keys, strict=True)]
    return [job for job in jobs if job is not None]


def told(session: Session, handoff_id: int) -> list[tuple[Status, datetime]]:
    """Every status queued for the one-stop system for this hand-off, with its time (postal
    events are not statuses and are left out)."""
    return told_many(session, [handoff_id])[handoff_id]


def told_many(session: Session, handoff_ids: Iterable[int]
              ) -> dict[int, list[tuple[Status, datetime]]]:
    """`told` for many hand-offs, in one query (a chunk of the tracking feed's). Only the
    two fields read of each payload: a whole payload read and parsed was a tenth of a
    chunk's look-ups."""
    found: dict[int, list[tuple[Status, datetime]]] = {hid: [] for hid in handoff_ids}
    for hid, status, at in session.execute(select(
            Job.handoff_id, Job.payload["status"].as_string(),
            Job.payload["occurred_at"].as_string()).where(
            among(session, Job.handoff_id, found), Job.kind == JobKind.PUSH_STATUS)):
        found[hid] += _told(status, at)
    return found


def told_by(payload: dict[str, Any]) -> list[tuple[Status, datetime]]:
    """The status a push-back's payload tells, with its time; none for a postal event."""
    return _told(payload["status"], payload["occurred_at"])


def _told(status: str, occurred_at: str) -> list[tuple[Status, datetime]]:
    if status not in Status.__members__.values():
        return []
    return [(Status(status), _aware(datetime.fromisoformat(occurred_at)))]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def locked(session: Session, handoff_id: int) -> Handoff:
    """The hand-off, row-locked until commit (PostgreSQL), so that two changes decided at
    once cannot overwrite each other; SQLite's BEGIN IMMEDIATE serializes writers already."""
    # populate_existing: the values read under the lock, not those loaded before it
    return session.get_one(Handoff, handoff_id, with_for_update=True, populate_existing=True)


def locked_many(session: Session, handoff_ids: Iterable[int]) -> dict[int, Handoff]:
    """`locked` for many hand-offs in one statement, locked in id order: two such reads
    (or a feed's chunk, flow/tracking.py read_known) never deadlock on each other."""
    ids = sorted(set(handoff_ids))
    if not ids:
        return {}
    return {h.id: h for h in session.scalars(
        select(Handoff).where(among(session, Handoff.id, ids)).order_by(Handoff.id)
        .with_for_update()
        .execution_options(populate_existing=True))}


def by_order_number(session: Session, order_number: str) -> Handoff | None:
    return session.scalar(select(Handoff).where(Handoff.order_number == order_number)
                          .with_for_update())


def current(session: Session, dossier_code: str, direction: str) -> Handoff | None:
    """The newest generation of a dossier's hand-off in one direction."""
    return session.scalar(
        select(Handoff).where(Handoff.dossier_code == dossier_code,
                              Handoff.direction == direction)
        .order_by(Handoff.generation.desc()).limit(1)
    )


def current_many(session: Session, dossier_codes: Iterable[str]) -> list[Handoff]:
    """Every hand-off of these dossiers in one statement, the newest generation of each
    dossier and direction last (so a dict built from them in order holds `current`'s)."""
    codes = sorted(set(dossier_codes))
    if not codes:
        return []
    return list(session.scalars(select(Handoff).where(Handoff.dossier_code.in_(codes))
                                .order_by(Handoff.generation)))
