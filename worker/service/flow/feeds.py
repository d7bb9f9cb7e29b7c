"""Polling both feeds under a lease: read a page, apply it, advance the cursor in the same
commit.

A tracking-feed page (up to 1,000 events) is applied in chunks, one transaction each, the
cursor moved to the chunk's last event in that transaction: the cursor and the applied
events agree after every commit, as with one commit per page. Why not one transaction per
page: applying an event holds its hand-off's row lock until the commit, and a carrier push
of the same order waits on it (flow/pushes.py); a whole page held the locks for seconds on
a busy machine, long enough for the post office to give up on a push (its timeout) and
send it again. A chunk holds them for a fraction of that.

How many events a chunk: as many as fit in CHUNK_HOLD_S at the rate the poll's chunks
before it were committed (`ChunkSizes`), between CARRIER_CHUNK and CARRIER_CHUNK_MAX. A
chunk's own costs (its lease and cursor, its look-ups, its savepoint, its commit) are
shared by its events, so a bigger chunk applies more events a second (benchmark 5: 1.7 x
from 25 to 100); the bound is in time, not in events, because the lock wait a push sees
is time: on a machine slowed down, or with a broker that makes each commit's ring wait,
chunks shrink back to CARRIER_CHUNK. The one-stop feed's cursor is the page's opaque
`next`, so its page stays one commit."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from worker.db.failures import database_trouble, outside_failure
from worker.db.models import Cursor, Job, utcnow
from worker.domain.enums import EventSource
from worker.domain.errors import HandoffError
from worker.domain.model import CarrierAccount, TrackingEvent
from worker.domain.privacy import scrub
from worker.service import agencies, ledger
from worker.service.flow import cod, status_log
from worker.service.flow.cursors import ACCOUNT_CURSOR_PREFIX as ACCOUNT_CURSOR_PREFIX  # (callers
from worker.service.flow.cursors import CARRIER_CURSOR as CARRIER_CURSOR  # know them from here)
from worker.service.flow.cursors import ONESTOP_CURSOR, carrier_cursor
from worker.service.flow.handover_known import forget_open
from worker.service.flow.ingest import take_page
from worker.service.flow.isolation import Described, take_one
from worker.service.flow.tracking import Known, apply_event, read_known, written_alike
from worker.service.ledger import leases, uow

if TYPE_CHECKING:
    from worker.service.runtime import Runtime

log = logging.getLogger(__name__)

Apply = Callable[[Session], None]  # one step of a page, inside its transaction

MAX_SECONDS = 60.0  # one poll (all its accounts) never holds a lease longer than this
CARRIER_CHUNK = 25  # tracking events in a poll's first transaction, and its fewest (above)
CARRIER_CHUNK_MAX = 200  # the most in one transaction
CHUNK_HOLD_S = 0.2  # what a chunk's transaction is sized to take (its locks' hold)


class ChunkSizes:
    """The size of a poll's next tracking chunk: the events that fit in CHUNK_HOLD_S at the
    rate of its last chunk (timed from the start of its step's transaction to its commit
    and ring), at most double the last size (one fast chunk does not jump to the most),
    between CARRIER_CHUNK and CARRIER_CHUNK_MAX. A page's short tail (fewer events than
    CARRIER_CHUNK) within the hold says little of the rate (its time is mostly the
    transaction's own), so it leaves the size as it is; one over the hold still shrinks it.
    A step not committed (the lease lost, the cursor moved, the database failing) starts
    the sizes again from CARRIER_CHUNK (`chunk_steps`)."""

    def __init__(self) -> None:
        self.size = CARRIER_CHUNK

    def took(self, events: int, seconds: float) -> None:
        if events <= 0 or (events < CARRIER_CHUNK and seconds <= CHUNK_HOLD_S):
            return
        fits = int(CHUNK_HOLD_S * events / seconds) if seconds > 0 else CARRIER_CHUNK_MAX
        self.size = max(CARRIER_CHUNK, min(CARRIER_CHUNK_MAX, 2 * self.size, fits))


def get_cursor(session: Session, name: str) -> str | None:
    row = session.get(Cursor, name)
    return row.value if row and row.value else None


def set_cursor(session: Session, name: str, value: str) -> None:
    row = session.get(Cursor, name)
    if row is None:
        session.add(Cursor(name=name, value=value, updated_at=utcnow()))
    else:
        row.value, row.updated_at = value, utcnow()


def poll_carrier(rt: Runtime) -> int:
    """Read the tracking feed of every account towards its end (each under its own lease
    and cursor: one account's outage never holds up another's), all within MAX_SECONDS.
    The accounts are taken in a random order, so when the time runs out (a backlog after
    an outage) it is not always the same accounts that wait. Returns how many events."""
    with rt.db.unit_of_work() as s:
        accounts = list(agencies.accounts(s, rt.settings))
    random.shuffle(accounts)
    default = rt.default_account.key
    deadline = time.monotonic() + MAX_SECONDS
    sizes = ChunkSizes()
    return sum(_poll(rt, carrier_cursor(a, default), partial(_carrier_page, a, sizes),
                     deadline) for a in accounts)


def poll_onestop(rt: Runtime) -> int:
    """Read the one-stop hand-off feed to its end. Returns how many items were read."""
    return _poll(rt, ONESTOP_CURSOR, _onestop_page, time.monotonic() + MAX_SECONDS)


def _carrier_page(account: CarrierAccount, sizes: ChunkSizes, rt: Runtime,  # type: ignore[no-untyped-def]
                  session: Session | None, cursor: str | None):
    page = rt.carrier_for(account).fetch_events(cursor, rt.settings.carrier_page_size)
    return chunk_steps(page.events, page.last_id, sizes), rt.settings.carrier_page_size


def chunk_steps(events: list[TrackingEvent], last_id: str,
                sizes: ChunkSizes) -> Iterator[tuple[int, Apply, str]]:
    """The page's chunks as steps, each sized when it is asked for (after the step before
    was committed: `_poll` takes them one at a time). Each moves the cursor to its last
    event; the last one to the page's end (past the docs the page skipped: without an id or
    an order number). An empty page is one empty step: it still moves the cursor."""
    start = 0
    while True:
        chunk = events[start:start + sizes.size]
        start += len(chunk)
        last = start >= len(events)
        began = time.monotonic()
        try:
            yield len(chunk), partial(apply_chunk, chunk=chunk), (
                last_id if last else chunk[-1].event_id)
        except GeneratorExit:  # `_poll` stopped at this step: it was not committed
            sizes.size = CARRIER_CHUNK
            raise
        sizes.took(len(chunk), time.monotonic() - began)
        if last:
            return


def apply_chunk(session: Session, chunk: list[TrackingEvent]) -> None:
    """Apply a chunk of feed events, their hand-offs locked and the log's keys read once for
    the chunk (flow/tracking.py read_known). The events are taken in one savepoint (two
    statements for the chunk, not two for every event); should one of them fail on its
    own account, the chunk is taken again one event per savepoint (flow/isolation.py), so
    that one is quarantined and the others kept. The database failing is raised."""
    if not chunk:  # an empty page's: only its cursor moves
        return
    try:
        try:
            # the push-backs the events queue are written together at the flush
            # (ledger.written_together), their log rows in one INSERT at the block's end
            # (status_log.held) and their hand-offs in one UPDATE (written_alike); a known
            # key fails the chunk, taken again below one event each, where `enqueue` tells
            # it as known
            with session.begin_nested(), ledger.written_together(session), \
                    status_log.held(session):
                known = read_known(session, chunk)
                for ev in chunk:
                    apply_event(session, ev, known=known)
                written_alike(known)
                cod.record_many(session, known.fees)
                session.flush()
            return
        except Exception as err:
            if outside_failure(err):
                raise
            log.warning("a chunk of %d events taken again one by one (%s)", len(chunk),
                        type(err).__name__)
        again: Known | None = None
        stale = True
        for ev in chunk:
            if stale:  # the rollback released the locks, a quarantined event's notes went
                again, stale = _read_or_none(session, chunk), False
            if take_one(session, ev, partial(_applied, session, again), _described) is None:
                stale = True
    finally:
        forget_open(session)


def _read_or_none(session: Session, chunk: list[TrackingEvent]) -> Known | None:
    """The chunk's look-ups, or None (each event then reads its own, as a push does) when
    reading them fails on the events' own account: one bad event never stops the feed."""
    try:
        with session.begin_nested():
            return read_known(session, chunk)
    except Exception as err:
        if outside_failure(err):
            raise
        forget_open(session)
        return None


def _applied(session: Session, known: Known | None, ev: TrackingEvent) -> list[Job | None]:
    """One event of a chunk taken again on its own, its fee recorded with it (in its
    savepoint, as a push's is), not after the chunk."""
    if known is not None:
        known.fees.clear()  # (a quarantined event's, before this one)
    job = apply_event(session, ev, known=known)
    if known is not None:
        cod.record_many(session, known.fees)
        known.fees.clear()
    return [job]


def _described(ev: TrackingEvent) -> Described:
    return Described(f"event {ev.event_id}", EventSource.CARRIER_FEED,
                     order_number=ev.order_number)


def _onestop_page(rt: Runtime, session: Session, cursor: str | None):  # type: ignore[no-untyped-def]
    page = rt.onestop.fetch_handoffs(cursor, rt.settings.onestop_page_size)

    def apply(s: Session) -> None:
        take_page(s, page.items, EventSource.ONESTOP_FEED, rt.settings)

    return ([(len(page.items), apply, page.next_cursor or cursor or "")],
            rt.settings.onestop_page_size)


def _poll(rt: Runtime, name: str, read_page, deadline: float) -> int:  # type: ignore[no-untyped-def]
    lease = f"poll:{name}"
    if time.monotonic() >= deadline:
        return 0  # the poll's time is up: this feed is read at the next ring
    with leases.held(rt, lease) as got:
        if not got:
            return 0
        total = 0
        while time.monotonic() < deadline:
            with rt.db.unit_of_work() as s:
                cursor = get_cursor(s, name)
            try:
                steps, page_size = read_page(rt, None, cursor)
            except HandoffError as err:
                log.warning("poll %s: %s", name, scrub(str(err)))
                break
            read = 0
            for count, apply, next_cursor in steps:
                if not _commit_step(rt, name, lease, cursor, apply, next_cursor):
                    return total
                cursor = next_cursor or cursor
                total += count
                read += count
            if read < page_size:
                break
    return total


def _commit_step(rt: Runtime, name: str, lease: str, cursor: str | None, apply: Apply,
                 next_cursor: str) -> bool:
    """Apply one step of a page and move the cursor to its end, in one transaction. False
    when it was not committed: the rest of the page is read again at the next poll."""
    try:
        with uow.begin(rt) as s:  # the step's new jobs are rung once it commits
            if not leases.acquire(s, lease, rt.settings.lease_seconds):
                return False  # lost the lease (we were too slow); the new holder re-reads
            if get_cursor(s, name) != cursor:
                return False  # someone else moved the cursor meanwhile: never move it back
            apply(s)
            if next_cursor:
                set_cursor(s, name, next_cursor)
    except Exception as err:
        if not database_trouble(err):
            raise
        # rolled back, cursor unmoved: the next poll reads from there again (e.g. the loser
        # of a deadlock with another account's page); the other feeds go on
        log.warning("poll %s: chunk not applied, read again next poll (%s)", name,
                    type(err).__name__)
        return False
    return True
