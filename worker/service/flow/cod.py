"""Recording a hand-off's fee (COD) from the carrier's feed: collected (code 6) and remitted
(code 8), when, by which event, and the amount when the doc reported one.

Called by tracking.apply_event under the hand-off's row lock, after the event was found new
(a repeat of the same event never reaches here). The first event of each kind is kept: a
second, different collection or remittance of the same hand-off changes nothing and is
logged, so the record never moves under ops' feet. Nothing is pushed to the one-stop: the
fee events stay informational there.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from worker.db.failures import outside_failure
from worker.db.models import CodLedger, Handoff
from worker.db.readable import read_rows
from worker.db.sets import among
from worker.domain.cod import CodEvent, not_remitted_detail
from worker.domain.model import TrackingEvent
from worker.domain.moments import safe_add

log = logging.getLogger(__name__)


def record(session: Session, handoff: Handoff, ev: TrackingEvent,
           rows: dict[int, CodLedger] | None = None) -> bool:
    """Record a fee event of `handoff`; whether it changed anything. In a savepoint of its
    own: a failure here is logged by id and never loses, nor quarantines, the event (which
    the status log keeps: ops can record the fee by hand). The database failing (a
    deadlock, a lost connection) is raised: the event is rolled back and taken again whole,
    never committed with its fee silently missed. `rows`: the ledger rows read ahead
    (`record_many`), by hand-off, kept up to date here."""
    if ev.cod is None:
        return False
    # the event's own changes (its log row, its status) written first, outside this
    # savepoint: a failure of theirs is the event's, for its caller's savepoint to
    # quarantine, never swallowed here as a fee not recorded (the ledger's inserts leave
    # them unwritten: worker/db/inserts.py `add_new`)
    session.flush()
    try:
        with session.begin_nested():
            return _record(session, handoff, ev, rows)
    except Exception as err:
        if outside_failure(err):  # the database failing: the event is taken again whole
            raise
        if rows is not None and handoff.id in rows and not inspect(rows[handoff.id]).persistent:
            del rows[handoff.id]  # made in the savepoint, gone with it (one read or kept stays)
        log.error("hand-off %s: COD event %s not recorded (%s)", handoff.id, ev.event_id,
                  type(err).__name__)
        return False


def record_many(session: Session, fees: list[tuple[Handoff, TrackingEvent]]) -> None:
    """The fee events of a chunk of the feed (tracking.Known.fees), once its events were
    applied, their ledger rows read in one query: all in one savepoint, written at one
    flush; should that fail on a fee's own account (an amount no column holds), again
    each in its own savepoint as `record` does, so only that fee is not recorded. Done
    after the chunk's events, not between them, so that their own changes are written
    together at one flush, not at one flush before each fee event (nothing an event
    decides reads the fee ledger); in the events' order, so a hand-off's collection is
    recorded before its remittance."""
    if not fees:
        return
    session.flush()  # the events' own changes, outside the fees' savepoints (`record`)
    try:
        with session.begin_nested():
            rows = _rows(session, fees)
            for handoff, ev in fees:
                _record(session, handoff, ev, rows)
        return
    except Exception as err:
        if outside_failure(err):  # the database failing: the chunk is taken again whole
            raise
        log.warning("%d COD events recorded again one by one (%s)", len(fees),
                    type(err).__name__)
    rows = _rows(session, fees)  # (the rollback took the rows made or changed in it)
    for handoff, ev in fees:
        record(session, handoff, ev, rows)


def _rows(session: Session, fees: list[tuple[Handoff, TrackingEvent]]
          ) -> dict[int, CodLedger]:
    return {row.handoff_id: row for row in session.scalars(
        select(CodLedger).where(among(session, CodLedger.handoff_id, {h.id for h, _ in fees}))
        .execution_options(populate_existing=True))}


# each kind of fee event: the ledger's columns for (when, which event, the amount reported)
COLUMNS: dict[CodEvent, tuple[str, str, str]] = {
    CodEvent.COLLECTED: ("collected_at", "collected_event", "collected_amount"),
    CodEvent.REMITTED: ("remitted_at", "remitted_event", "remitted_amount"),
}


def _record(session: Session, handoff: Handoff, ev: TrackingEvent,
            rows: dict[int, CodLedger] | None) -> bool:
    assert ev.cod is not None
    at, event, amount = COLUMNS[ev.cod]
    row = rows.get(handoff.id) if rows is not None else session.get(CodLedger, handoff.id)
    if row is None:
        row = CodLedger(handoff_id=handoff.id)
        session.add(row)
        if rows is not None:
            rows[handoff.id] = row
    first = getattr(row, event)
    if first is not None:
        log.info("hand-off %s: a second COD %s (%s) kept out; first was %s", handoff.id,
                 ev.cod.value, ev.event_id, first)
        return False
    setattr(row, at, ev.occurred_at)
    setattr(row, event, ev.event_id)
    setattr(row, amount, ev.amount)
    return True


def unremitted(session: Session, now: datetime, remit_days: float) -> dict[int, str]:
    """Hand-offs whose fee was collected more than `remit_days` days before `now` and not
    remitted since: hand-off id -> the detail ops read (the SLA rule cod_not_remitted)."""
    before = safe_add(now, -timedelta(days=remit_days))
    rows = read_rows(session, select(CodLedger.handoff_id, CodLedger.collected_at).where(
        CodLedger.collected_at.is_not(None), CodLedger.remitted_at.is_(None),
        CodLedger.collected_at < before).order_by(CodLedger.handoff_id), CodLedger.handoff_id)
    return {hid: not_remitted_detail(at, remit_days) for hid, at in rows}
