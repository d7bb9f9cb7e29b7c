"""Taking outside entries one at a time: one that fails never blocks the others.

Each entry (a one-stop feed item, a webhook item, a carrier tracking event) is taken in
its own savepoint (a page of them first in one, `take_each`). When taking it raises (a bug,
a value a column cannot hold, a database refusal of that entry), the savepoint is rolled
back and the entry is quarantined: a row in
the delivery-status log says which entry it was and why, written in a savepoint of its own
with only storable text, so even a poisoned entry cannot leave the transaction broken. The
caller then moves its cursor past the entry as for any other.

Trouble of the database itself, or the work being stopped (a task's time limit), is not
the entry's doing and is never quarantined (`worker/db/failures.outside_failure`): it is
raised, so the whole transaction is given up and the page (or webhook) is taken again
later. Quarantined, such an entry would be lost: a deadlock
between two feeds' pages (each locks hand-offs in its own events' order) aborts only the
victim's statement, so the page would commit without the entry and move its cursor past
it for good (chaos scenario 16).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from worker.db.failures import outside_failure
from worker.db.models import utcnow
from worker.domain.enums import EventSource
from worker.domain.reason_codes import ReasonCode, reason
from worker.domain.text import sanitize_text
from worker.service.flow.handoffs import Change
from worker.service.flow.handoffs import log as log_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Described:
    """What the status log says about an entry we could not take (storable text only)."""

    what: str  # "item hof_123", "event 65f1…"
    source: EventSource  # the log's source
    order_number: str = ""
    dossier_code: str = ""


def take_each(session: Session, things: list[Any], take: Callable[[Any], list[Any]],
              describe: Callable[[Any], Described],
              together: Callable[[list[Any]], list[Any]] | None = None) -> list[int]:
    """Take every entry; returns the ids of the jobs they created. The entries are first
    taken together in one savepoint (by `together` if given, which takes them as `take`
    would but shares its statements: flow/ingest.py `ingest_page`; else one by one, the
    savepoint's two statements and the writing of the rows shared by the page, as the
    tracking feed's chunks do: flow/feeds.py `apply_chunk`); should one of them fail on its
    own account, that savepoint is rolled back and each entry is taken again in its own
    (`take_one`), so that one is quarantined and the others kept."""
    if len(things) > 1:
        try:
            with session.begin_nested():
                jobs = (together(things) if together is not None
                        else [job for thing in things for job in take(thing)])
                session.flush()
            return [j.id for j in jobs if j is not None]
        except Exception as err:
            if outside_failure(err):
                raise
            log.warning("%d entries taken again one by one (%s)", len(things),
                        type(err).__name__)
    ids: list[int] = []
    for thing in things:
        ids += take_one(session, thing, take, describe) or []
    return ids


def take_one(session: Session, thing: Any, take: Callable[[Any], list[Any]],
             describe: Callable[[Any], Described]) -> list[int] | None:
    """The ids of the jobs the entry created; None when it was quarantined instead.
    Raises a failure outside the entry (the database failing, the work stopped), leaving
    the caller's transaction to be rolled back."""
    try:
        with session.begin_nested():
            jobs = take(thing)
            session.flush()
    except Exception as err:
        if outside_failure(err):
            # not the entry's fault: quarantined, it would be skipped for good once the
            # caller commits (a deadlock aborts only this statement; the transaction
            # lives on and its cursor moves past the entry). The caller gives up instead.
            raise
        quarantine(session, thing, describe, err)
        return None
    return [j.id for j in jobs if j is not None]


def quarantine(session: Session, thing: Any, describe: Callable[[Any], Described],
               err: BaseException) -> None:
    """Record that an entry could not be taken; never raises."""
    kind = type(err).__name__  # the type only: a database error's text carries the row's data
    try:
        d = describe(thing)
        what = sanitize_text(d.what, 120)
        log.error("%s could not be taken: %s", what, kind)
        why = reason(ReasonCode.ENTRY_NOT_TAKEN, what=what, error=kind)
        with session.begin_nested():
            log_event(session, None, Change(None, d.source, utcnow(),
                                            notes=why.vi()), False, why,
                      order_number=sanitize_text(d.order_number, 50),
                      dossier_code=sanitize_text(d.dossier_code, 80))
            session.flush()
    except Exception as second:  # the log row itself failed: the logger is all we have
        log.error("an entry could not be taken (%s) nor quarantined (%s)", kind,
                  type(second).__name__)
