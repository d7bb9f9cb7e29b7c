"""Polling both feeds under a lease: read a page, apply it, advance the cursor, one commit."""

from __future__ import annotations

import logging
import random
import time
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from worker.db.failures import database_trouble
from worker.db.models import Cursor, utcnow
from worker.domain.enums import EventSource
from worker.domain.errors import HandoffError
from worker.domain.model import CarrierAccount
from worker.domain.privacy import scrub
from worker.service import agencies
from worker.service.flow.cursors import ACCOUNT_CURSOR_PREFIX as ACCOUNT_CURSOR_PREFIX  # (callers
from worker.service.flow.cursors import CARRIER_CURSOR as CARRIER_CURSOR  # know them from here)
from worker.service.flow.cursors import ONESTOP_CURSOR, carrier_cursor
from worker.service.flow.ingest import describe_item, ingest_item
from worker.service.flow.isolation import Described, take_each
from worker.service.flow.tracking import apply_event
from worker.service.ledger import leases, uow

if TYPE_CHECKING:
    from worker.service.runtime import Runtime

log = logging.getLogger(__name__)

MAX_SECONDS = 60.0  # one poll (all its accounts) never holds a lease longer than this


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
    return sum(_poll(rt, carrier_cursor(a, default), partial(_carrier_page, a), deadline)
               for a in accounts)


def poll_onestop(rt: Runtime) -> int:
    """Read the one-stop hand-off feed to its end. Returns how many items were read."""
    return _poll(rt, ONESTOP_CURSOR, _onestop_page, time.monotonic() + MAX_SECONDS)


def _carrier_page(account: CarrierAccount, rt: Runtime, session: Session | None,  # type: ignore[no-untyped-def]
                  cursor: str | None):
    page = rt.carrier_for(account).fetch_events(cursor, rt.settings.carrier_page_size)

    def apply(s: Session) -> None:
        take_each(s, page.events, lambda ev: [apply_event(s, ev)],
                  lambda ev: Described(f"event {ev.event_id}", EventSource.CARRIER_FEED,
                                       order_number=ev.order_number))

    return len(page.events), page.last_id, apply, rt.settings.carrier_page_size


def _onestop_page(rt: Runtime, session: Session, cursor: str | None):  # type: ignore[no-untyped-def]
    page = rt.onestop.fetch_handoffs(cursor, rt.settings.onestop_page_size)

    def apply(s: Session) -> None:
        take_each(s, page.items,
                  lambda raw: ingest_item(s, raw, EventSource.ONESTOP_FEED, rt.settings).jobs,
                  lambda raw: describe_item(raw, EventSource.ONESTOP_FEED))

    return len(page.items), page.next_cursor or cursor or "", apply, rt.settings.onestop_page_size


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
                count, next_cursor, apply, page_size = read_page(rt, None, cursor)
            except HandoffError as err:
                log.warning("poll %s: %s", name, scrub(str(err)))
                break
            try:
                with uow.begin(rt) as s:  # the page's new jobs are rung once it commits
                    if not leases.acquire(s, lease, rt.settings.lease_seconds):
                        break  # lost the lease (we were too slow); the new holder re-reads
                    if get_cursor(s, name) != cursor:
                        break  # someone else moved the cursor meanwhile: never move it back
                    apply(s)
                    if next_cursor:
                        set_cursor(s, name, next_cursor)
            except Exception as err:
                if not database_trouble(err):
                    raise
                # rolled back, cursor unmoved: the next poll reads the page again (e.g. the
                # loser of a deadlock with another account's page); the other feeds go on
                log.warning("poll %s: page not applied, read again next poll (%s)", name,
                            type(err).__name__)
                break
            total += count
            if count < page_size:
                break
    return total
