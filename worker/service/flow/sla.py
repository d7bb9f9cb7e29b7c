"""Marking late and stuck hand-offs (SLA breaches) and queueing one notification for each
(a `notify` job: retried, dead-lettered and replayed like any other effect)."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, cast, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.db.models import Handoff, Job, SlaBreach, utcnow
from worker.db.readable import read_rows
from worker.domain.enums import JobKind, JobState
from worker.domain.job_payloads import NotifyPayload
from worker.domain.moments import as_utc
from worker.domain.sla_rules import (
    OUTSIDE_STATUS,
    Limits,
    Rule,
    Snapshot,
    broken,
    rule_label,
    severity,
)
from worker.domain.statuses import FINAL
from worker.service import agencies, ledger
from worker.service.agencies import limits_for
from worker.service.flow import cod
from worker.service.flow.handover import unsettled_record
from worker.service.ledger import leases, uow

if TYPE_CHECKING:
    from worker.service.runtime import Runtime
    from worker.settings import Settings

log = logging.getLogger(__name__)

LEASE = "sla"
NOTIFY_BATCH = 200  # at most this many notifications queued per run; the rest on the next
_FINAL = [s.value for s in FINAL]


@dataclass
class MarkResult:
    ran: bool = True  # False: another process holds the lease
    opened: int = 0
    reopened: int = 0
    cleared: int = 0
    queued: int = 0  # notifications queued (notify jobs), sent by the workers
    skipped: int = 0  # hand-offs whose stored values could not be judged (logged, by id)


@dataclass(frozen=True)
class StuckRow:
    breach_id: int
    handoff_id: int
    dossier_code: str
    direction: str
    status: str
    order_number: str
    rule: str
    rule_label: str
    detail: str
    detected_at: datetime
    notified_at: datetime | None


def limits_of(s: Settings) -> Limits:
    return Limits(accept_within_minutes=s.sla_accept_within_minutes,
                  pickup_within_hours=s.sla_pickup_within_hours,
                  deliver_within_days=s.sla_deliver_within_days,
                  silent_hours=s.sla_silent_hours)


def mark(rt: Runtime, now: datetime | None = None) -> MarkResult:
    """One pass: record new breaches, clear the healed ones, queue the notifications.

    Under a lease, so two beats or workers never mark at once (the unique index on
    (handoff_id, rule) would keep rows single anyway). The notifications are queued in the
    same transaction as the breaches and rung once it commits.
    """
    with leases.held(rt, LEASE) as got:
        if not got:
            return MarkResult(ran=False)
        # any zone or year the CLI was given, as a storable moment; else now, read after
        # the lease's connection measured the server's clock (worker/db/clock.py)
        now = as_utc(now or utcnow())
        result = MarkResult()
        with uow.begin(rt) as s:
            scan(s, now, limits_of(rt.settings), result)
            scan_cod(s, now, rt.settings.cod_remit_days, result)
            if rt.settings.notify_url:  # empty: notifications are off
                result.queued = queue_notifications(s)
        return result


def scan(session: Session, now: datetime, limits: Limits, result: MarkResult) -> None:
    """Compare every non-final hand-off with the rules and bring sla_breaches in line."""
    known: dict[int, dict[str, SlaBreach]] = defaultdict(dict)
    rows = read_rows(session, select(SlaBreach).join(Handoff, Handoff.id == SlaBreach.handoff_id)
                     .where(Handoff.status.not_in(_FINAL) | SlaBreach.cleared_at.is_(None)),
                     SlaBreach.id, entities=True)
    for b in rows:
        known[b.handoff_id][b.rule] = b
    # A hand-off whose stored dates cannot even be read is left out here (logged by id);
    # its open breaches stay as they are rather than being cleared as healed.
    # an agency's own limits (`handoff agency update --sla ...`) over the settings
    per_agency = {r.code: limits_for(limits, r) for r in agencies.all_records(session)
                  if r.sla}
    handoffs = read_rows(session, select(
        Handoff.id, Handoff.agency_code, Handoff.status, Handoff.ready_at, Handoff.accepted_at,
        Handoff.last_event_at, Handoff.final_at, *unsettled_record())
        .where(Handoff.status.not_in(_FINAL))
        .order_by(Handoff.id), Handoff.id)
    still_open = set(session.scalars(select(Handoff.id).where(Handoff.status.not_in(_FINAL))))
    result.skipped += len(still_open - {row[0] for row in handoffs})
    for hid, agency_code, *fields in handoffs:
        try:
            now_broken = dict(broken(Snapshot(*fields), now,
                                     per_agency.get(agency_code, limits)))
        except Exception as err:
            # One bad row (a value no rule can read) is skipped and named by id and type
            # only (no personal data); every other hand-off is still judged and alerted.
            result.skipped += 1
            log.error("SLA check skipped hand-off %s: %s", hid, type(err).__name__)
            continue
        _apply(session, hid, now_broken, known.get(hid, {}), now, result)
    # Hand-offs that became final: every open breach is over.
    for hid, mine in known.items():
        if hid in still_open:
            continue
        for b in mine.values():
            if b.cleared_at is None and b.rule not in OUTSIDE_STATUS:
                b.cleared_at = now
                result.cleared += 1
    _scan_push_failures(session, now, result)


def _apply(session: Session, hid: int, now_broken: dict[Rule, str],
           mine: dict[str, SlaBreach], now: datetime, result: MarkResult) -> None:
    """Bring one hand-off's breaches in line with the rules it breaks now."""
    for rule, detail in now_broken.items():
        found = mine.get(rule)
        if found is None:
            if _insert(session, hid, rule, detail, now):
                result.opened += 1
        elif found.cleared_at is not None:
            # Broken again (e.g. a second failed delivery): reopened, but notified_at
            # stays, so the notification remains once per hand-off and rule.
            found.cleared_at, found.detail = None, detail
            result.reopened += 1
    for name, breach in mine.items():
        if name in OUTSIDE_STATUS:
            continue  # judged from the ledger or the fee records, final or not
        if name not in now_broken and breach.cleared_at is None:
            breach.cleared_at = now
            result.cleared += 1


def _scan_push_failures(session: Session, now: datetime, result: MarkResult) -> None:
    """A status the one-stop refused for good (its 422, attempts exhausted) needs a person,
    final hand-off or not ("delivered" never reaching it means the dossier is never marked
    'Đã trả kết quả'). The hand-off keeps its real delivery status; the breach says why."""
    dead = dict(session.execute(
        select(Job.handoff_id, func.max(Job.last_error))
        .where(Job.kind == JobKind.PUSH_STATUS, Job.state == JobState.DEAD).group_by(Job.handoff_id)
    ).all())
    _flag(session, Rule.PUSH_FAILED, {
        hid: f"Hệ thống một cửa không nhận trạng thái: {error or 'không rõ lý do'}"[:500]
        for hid, error in dead.items()}, now, result)  # cleared once replayed and delivered


def scan_cod(session: Session, now: datetime, remit_days: float, result: MarkResult) -> None:
    """A fee the courier collected and the post office has not paid to the agency after
    `remit_days` days (worker/service/flow/cod.py), final hand-off or not; cleared once the
    remittance arrives."""
    _flag(session, Rule.COD_NOT_REMITTED, cod.unremitted(session, now, remit_days), now, result)


def _flag(session: Session, rule: Rule, broken_now: dict[int, str], now: datetime,
          result: MarkResult) -> None:
    """Bring one rule judged outside the status (OUTSIDE_STATUS) in line: a breach open for
    each hand-off in `broken_now` (hand-off id -> detail), none for any other."""
    flagged = {b.handoff_id: b for b in session.scalars(
        select(SlaBreach).where(SlaBreach.rule == rule))}
    for hid, detail in broken_now.items():
        b = flagged.get(hid)
        if b is None:
            if _insert(session, hid, rule, detail, now):
                result.opened += 1
        elif b.cleared_at is not None:
            b.cleared_at, b.detail = None, detail
            result.reopened += 1
    for hid, b in flagged.items():
        if hid not in broken_now and b.cleared_at is None:
            b.cleared_at = now
            result.cleared += 1


def _insert(session: Session, handoff_id: int, rule: str, detail: str, now: datetime) -> bool:
    """Insert one breach; the unique index decides if someone else got there first."""
    session.flush()  # earlier changes must not ride in (and roll back with) the savepoint
    try:
        with session.begin_nested():
            session.add(SlaBreach(handoff_id=handoff_id, rule=str(rule), detail=detail,
                                  detected_at=now))
            session.flush()
        return True
    except IntegrityError:
        return False


def notification_body(h: Handoff, b: SlaBreach) -> dict[str, Any]:
    """What the receiver gets. No personal data: the dossier code is the only identifier."""
    return {
        "type": "handoff.sla_breached",
        "handoff": {
            "dossierCode": h.dossier_code, "direction": h.direction,
            "generation": h.generation, "status": h.status,
            "orderNumber": h.order_number, "itemCode": h.item_code,
            "agencyCode": h.agency_code,
        },
        "rule": b.rule,
        "ruleLabel": rule_label(b.rule),
        "detail": b.detail,
        "detectedAt": as_utc(b.detected_at).isoformat().replace("+00:00", "Z"),
    }


def message_id(handoff_id: int, rule: str) -> str:
    """The notification's webhook-id and ledger key: one per hand-off and rule, ever."""
    return f"sla_{handoff_id}_{rule}"


def queue_notifications(session: Session) -> int:
    """Queue a notify job for each open breach never notified nor queued; how many.

    The job's key is the message id, so a breach healed and broken again, or seen by two
    runs, is notified once. notified_at is set when the receiver answers 2xx."""
    key = literal("sla_") + cast(SlaBreach.handoff_id, String) + "_" + SlaBreach.rule
    queued = select(Job.id).where(Job.idempotency_key == key).exists()
    rows = session.execute(select(SlaBreach.handoff_id, SlaBreach.rule).where(
        SlaBreach.notified_at.is_(None), SlaBreach.cleared_at.is_(None), ~queued)
        .order_by(SlaBreach.id).limit(NOTIFY_BATCH)).all()
    count = 0
    for handoff_id, rule in rows:
        msg = message_id(handoff_id, rule)
        if ledger.enqueue(session, JobKind.NOTIFY, handoff_id, msg,
                          NotifyPayload(rule, msg).to_json()) is not None:
            count += 1
    return count


def stuck(session: Session) -> list[StuckRow]:
    """Open breaches with their hand-offs, worst rule first, then the longest-standing.

    Only the columns shown are read: whole rows of both tables, made into objects, cost
    two to three times as much (bench/ops_queries.py)."""
    rows = [
        StuckRow(bid, hid, code, direction, status, order or "", rule, rule_label(rule),
                 detail, detected_at, notified_at)
        for bid, hid, code, direction, status, order, rule, detail, detected_at, notified_at
        in read_rows(session, select(
            SlaBreach.id, Handoff.id, Handoff.dossier_code, Handoff.direction, Handoff.status,
            Handoff.order_number, SlaBreach.rule, SlaBreach.detail, SlaBreach.detected_at,
            SlaBreach.notified_at).join(Handoff, Handoff.id == SlaBreach.handoff_id)
            .where(SlaBreach.cleared_at.is_(None)), SlaBreach.id)
    ]
    rows.sort(key=lambda r: (-severity(r.rule), r.detected_at, r.breach_id))
    return rows
