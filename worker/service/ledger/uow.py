"""The unit of work: one transaction whose new ledger rows are rung only after it commits.

Above the service layer (pages, CLI, tasks, checks) every transaction is one of these:
`begin(rt)` to change things, `read(rt)` to look, and `write(db)` only where no runtime
(and so no bell) exists and nothing is queued. `Database.unit_of_work()` is the service
layer's own tool; tests/unit/test_one_unit_of_work.py keeps it out of the layers above.

Services never ring. Every row the ledger adds or revives in a session is collected on
that session (`collect`); `begin(rt)` opens the transaction, and once it has committed it
rings the bell for the collected rows that are really there (a row added in a savepoint
that rolled back is not). A failed transaction rings nothing; a lost ring is harmless, the
sweep rings due rows again.

    with uow.begin(rt) as session:
        ledger.enqueue(session, JobKind.POST_ORDER, handoff.id, key)  # collected
    # committed, then the bell rang for the new post
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import ORMExecuteState, Session

from worker.db.engine import Database
from worker.db.models import Job, utcnow
from worker.db.sets import among
from worker.domain.enums import JobKind

if TYPE_CHECKING:
    from worker.service.runtime import Runtime

_NEW_JOBS = "uow.new_jobs"  # the session's list of rows to ring after commit
# Inside `batch(rt)`: the committed rows of every unit of work, rung once at its end.
_BATCH: ContextVar[list[Rung] | None] = ContextVar("uow_batch", default=None)

# The kinds whose rows are rung where the workers look first (the bell's `first`:
# worker/launch/queues.py): a courier order, or its cancel, waits behind no push-back.
CARRIER_KINDS = frozenset({JobKind.POST_ORDER, JobKind.CANCEL_ORDER})

Rung = tuple[int, bool]  # a row to ring: its id, and whether it is the carrier's


def ring(rt: Runtime, rows: Sequence[Rung]) -> int:
    """Ring the rows, the carrier's first (in a message of their own); how many rang."""
    ids = list(dict.fromkeys(rows))
    carrier = [i for i, first in ids if first]
    others = [i for i, first in ids if not first]
    return ((rt.bell.ring(carrier, first=True) if carrier else 0)
            + (rt.bell.ring(others) if others else 0))


def collect(session: Session, job: Job | None) -> None:
    """Ring `job` once this session's transaction commits (None is ignored)."""
    if job is not None:
        session.info.setdefault(_NEW_JOBS, []).append(job)


def _to_ring(session: Session) -> list[Rung]:
    """The collected rows (id, whether the carrier's) that are in the transaction
    (savepoints kept), in order, marked rung in it: the commit that makes them real also
    says they were rung, so no second transaction per ring (a publish that fails takes
    the mark back: CeleryBell).

    Which rows are there is the database's answer (the UPDATE's RETURNING), not the
    session's: a row `ledger.enqueue` wrote inside a savepoint that rolled back is still
    an object of the session (worker/db/inserts.py `add_new`), but no longer a row."""
    session.flush()
    jobs = session.info.pop(_NEW_JOBS, [])  # held: an object's state refers to it weakly
    # the key, not `job.id`: reading an attribute of an expired object would load it
    states = [s for s in map(inspect, jobs) if s.persistent and s.identity]
    first = {s.identity[0]: s.dict.get("kind") in CARRIER_KINDS for s in states}
    ids = list(first)
    if not ids:
        return []
    mark = update(Job).where(among(session, Job.id, ids)).values(rung_at=utcnow())
    if session.get_bind().dialect.update_returning:
        there = set(session.scalars(mark.returning(Job.id)))
    else:  # a SQLite older than 3.35: asked, then marked
        there = set(session.scalars(select(Job.id).where(Job.id.in_(ids))))
        session.execute(mark)
    return [(i, first[i]) for i in ids if i in there]


def collected(session: Session) -> list[Job]:
    """The rows collected so far that are in the transaction (written first: the flush),
    in order; for a caller that takes some of them itself (`uncollect`)."""
    session.flush()
    return [j for j in session.info.get(_NEW_JOBS, [])
            if (state := inspect(j)).persistent and state.identity]


def uncollect(session: Session, jobs: Sequence[Job]) -> None:
    """Rows this transaction took care of itself (jobs/shared.py `_next_pushes`: claimed,
    or put off by their ordering rule): not rung after its commit."""
    taken = {id(j) for j in jobs}
    if taken and _NEW_JOBS in session.info:
        session.info[_NEW_JOBS] = [j for j in session.info[_NEW_JOBS] if id(j) not in taken]


@contextmanager
def begin(rt: Runtime) -> Iterator[Session]:
    """A transaction on the runtime's database; after commit, rings what it collected."""
    with rt.db.unit_of_work() as session:
        yield session
        ids = _to_ring(session)
    held = _BATCH.get()
    if held is not None:
        held.extend(ids)  # committed: the batch rings it with the others at its end
    elif ids:
        ring(rt, ids)


@contextmanager
def batch(rt: Runtime) -> Iterator[None]:
    """Many units of work (one per dossier of a desk batch, one per replayed row) that ring
    the bell once, at the end, for every row they committed: one publish round for a batch
    of 500 (each row was marked rung by its own commit), and a broker that is down costs
    one wait, not 500. Rows committed before an error are still rung."""
    held: list[Rung] = []
    token = _BATCH.set(held)
    try:
        yield
    finally:
        _BATCH.reset(token)
        if held:
            ring(rt, held)


class WriteRefused(RuntimeError):
    """A write where none may be: a change inside `read`, or work queued inside `write`
    (which has no bell to ring it). A bug in the caller, never a user's doing."""


@contextmanager
def read(source: Runtime | Database) -> Iterator[Session]:
    """A transaction that only reads (pages, CLI views, checks): never committed, and any
    change made in it is refused at once (`WriteRefused`) rather than silently dropped.
    It is the database's long read: READ ONLY on PostgreSQL, and on SQLite begun DEFERRED,
    so a page that looks never waits for, nor holds up, the workers' writes."""
    db = source if isinstance(source, Database) else source.db
    with db.long_read() as session:
        event.listen(session, "do_orm_execute", _no_write_statement)
        event.listen(session, "before_flush", _no_pending_change)
        yield session


def _no_write_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise WriteRefused("a read-only unit of work was asked to write")


def _no_pending_change(session: Session, *_: object) -> None:
    if session.new or session.dirty or session.deleted:
        raise WriteRefused("a read-only unit of work was asked to write")


@contextmanager
def write(db: Database) -> Iterator[Session]:
    """A transaction for a process that has a database but no runtime, and so no bell
    (heartbeats, the metrics' totals, the area table): committed on success. It may queue
    no work: a ledger row collected in it is refused before commit, as there is nothing
    to ring it and it would wait for the sweep."""
    with db.unit_of_work() as session:
        yield session
        if _to_ring(session):
            raise WriteRefused("work queued where no bell can ring it: use uow.begin(rt)")
