"""The delivery-status log: one row per thing that happened to a hand-off (or to an entry
that names none), with its coded reason. Below handoffs and handover, which both write it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from worker.db.models import Handoff, StatusLogEntry
from worker.domain.enums import EventSource
from worker.domain.reason_codes import Reason
from worker.domain.statuses import Status


@dataclass(frozen=True)
class Change:
    """What happened to a hand-off, for the log."""

    status: Status | None
    source: EventSource
    occurred_at: datetime
    raw_code: str = ""
    raw_text: str = ""
    post_office: str = ""
    notes: str = ""
    dedup_key: str | None = None  # stable key of the event; the push-back eventId derives from it
    known_code: bool = True
    unique: bool = False  # carrier events: the log's unique index rejects a second copy


_TABLE = StatusLogEntry.metadata.tables[StatusLogEntry.__tablename__]
# set on a session whose log rows `log` holds back for one statement (`held`)
_HELD = "status_log.held"


@contextmanager
def held(session: Session) -> Iterator[None]:
    """Within it, `log` keeps its rows as plain values, written together in one INSERT
    (no objects of the session, no ids read back) when the block ends without an error, or
    before any other statement the session executes at the block's level meanwhile
    (`_written_first`: a query reads what was logged before it, as with objects and the
    autoflush); dropped with an error. For a feed chunk, whose log rows (one an event) as
    objects cost a third of its flush (built, tracked, inserted with their ids read back,
    expired) and which reads nothing between its events.

    A row logged in a savepoint begun inside the block is not held but added as an object,
    so that it goes if that savepoint is rolled back; the rows held are not written from in
    there either (they would go with it), so a query in such a savepoint, or one sent on the
    session's connection rather than through the session, does not see them. The chunk's
    savepoints read no log (flow/handover.py `leave_record` queries before its savepoint,
    which writes the rows held until then, keeping their order). Blocks do not nest."""
    if _HELD in session.info:
        raise RuntimeError("status_log.held blocks do not nest")
    held = _Held(session.get_nested_transaction())
    session.info[_HELD] = held
    try:
        yield
        if session.get_nested_transaction() is not held.level:
            raise RuntimeError("status_log.held ended inside a savepoint it did not begin in")
        _write(session, held)
    finally:
        session.info.pop(_HELD, None)


@dataclass
class _Held:
    level: SessionTransaction | None  # the savepoint `held` began in, its rows' own
    rows: list[dict[str, Any]] = field(default_factory=list)


def _at_level(session: Session) -> _Held | None:
    """The session's rows held, when it is at the level they were held in."""
    held: _Held | None = session.info.get(_HELD)
    return held if held is not None and session.get_nested_transaction() is held.level else None


def _write(session: Session, held: _Held) -> None:
    if held.rows:
        rows, held.rows = held.rows, []  # (taken first: the INSERT below does not come back)
        # the table's insert, every row with the same columns: one statement (the ORM's
        # bulk insert splits the rows wherever the columns left None change)
        session.execute(insert(_TABLE), rows)


@event.listens_for(Session, "do_orm_execute")
def _written_first(state: ORMExecuteState) -> None:
    """The rows held written before any statement the session executes at their level,
    whatever it reads (a join or a subquery of the log does not name it among the query's
    mappers; a text() query names nothing)."""
    held = _at_level(state.session)
    if held is not None:
        _write(state.session, held)


def log(session: Session, handoff: Handoff | None, change: Change, applied: bool, reason: Reason,
        *, order_number: str = "", dossier_code: str = "") -> None:
    """One row of the delivery-status log. The reason is stored as its code and parameters;
    its English words go beside them for scripts and grep, never to be parsed back."""
    values = dict(
        handoff_id=handoff.id if handoff else None,
        dossier_code=handoff.dossier_code if handoff else dossier_code,
        order_number=(handoff.order_number or "") if handoff else order_number,
        source=change.source, status=change.status.value if change.status else None,
        raw_code=change.raw_code, raw_text=change.raw_text[:400],
        post_office=change.post_office, notes=change.notes, applied=applied, reason=reason.en(),
        reason_code=reason.code.value, reason_params=dict(reason.params),
        dedup_key=change.dedup_key if change.unique else None, occurred_at=change.occurred_at,
    )
    held = _at_level(session)
    if held is not None and (handoff is None or handoff.id is not None):
        held.rows.append(values)  # written with the block's others (`held`)
        return
    if held is not None:  # (a hand-off not written yet: after the rows held, in order)
        _write(session, held)
    session.add(StatusLogEntry(**values))
