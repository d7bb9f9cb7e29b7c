"""The desk's actions on hand-over records (print, "Đã bàn giao"), each in its own unit of
work, taken again when it lost a race to another desk or to a carrier event.

The desk never waits on a lock (worker/service/flow/handover.py locks with NOWAIT): a desk
action that waited while holding hand-offs could deadlock with the tracking feed, which locks
hand-offs in its events' order. It tries again after a short pause instead, and after a few
tries tells the clerk to try again in a moment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from worker.domain.errors import InvalidInput
from worker.domain.handover import Refusal
from worker.service.flow.handover import BusyError, Made, close_by_desk, make_record
from worker.service.ledger import uow

if TYPE_CHECKING:
    from worker.service.runtime import Runtime

TRIES = 5  # two desks printing at once: the loser tries again
T = TypeVar("T")
BUSY_VI = "các hồ sơ này đang được cập nhật; hãy thử lại sau ít giây"


def at_desk(rt: Runtime, act: Callable[[Session], T]) -> T:
    """A desk action (print, close) in its own unit of work, taken again when it lost a race
    (another desk's number or item, or a lock held: the loser never waits on a lock)."""
    for attempt in range(1, TRIES + 1):
        try:
            with uow.begin(rt) as s:
                return act(s)
        except (IntegrityError, OperationalError, BusyError) as err:
            busy = isinstance(err, BusyError) or _lock_refused(err)
            if attempt == TRIES or not (busy or isinstance(err, IntegrityError)):
                if busy:
                    raise InvalidInput(BUSY_VI, field="codes", code=Refusal.BUSY) from None
                raise
            time.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


def _lock_refused(err: Exception) -> bool:
    orig = getattr(err, "orig", None)
    return getattr(orig, "sqlstate", None) == "55P03"  # lock_not_available (NOWAIT)


def print_record(rt: Runtime, *, agency_code: str | None, direction: str,
                 codes: list[str] | None, actor: str) -> Made:
    """make_record at the desk (at_desk: taken again if another desk won a race)."""
    return at_desk(rt, lambda s: make_record(s, agency_code=agency_code, direction=direction,
                                             codes=codes, actor=actor))


def close_record(rt: Runtime, number: str, actor: str, agency_code: str | None = None) -> None:
    """close_by_desk at the desk (at_desk)."""
    at_desk(rt, lambda s: close_by_desk(s, number, actor, agency_code))


