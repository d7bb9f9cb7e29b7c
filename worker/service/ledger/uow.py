"""The unit of work: one transaction whose new ledger rows are rung only after it commits.

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

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from worker.db.models import Job

if TYPE_CHECKING:
    from worker.service.runtime import Runtime

_NEW_JOBS = "uow.new_jobs"  # the session's list of rows to ring after commit
# Inside `batch(rt)`: the committed rows of every unit of work, rung once at its end.
_BATCH: ContextVar[list[int] | None] = ContextVar("uow_batch", default=None)


def collect(session: Session, job: Job | None) -> None:
    """Ring `job` once this session's transaction commits (None is ignored)."""
    if job is not None:
        session.info.setdefault(_NEW_JOBS, []).append(job)


def _to_ring(session: Session) -> list[int]:
    """Ids of the collected rows that are in the transaction (savepoints kept), in order."""
    session.flush()
    jobs = session.info.pop(_NEW_JOBS, [])
    return list(dict.fromkeys(j.id for j in jobs if inspect(j).persistent))


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
        rt.bell.ring(ids)


@contextmanager
def batch(rt: Runtime) -> Iterator[None]:
    """Many units of work (one per dossier of a desk batch, one per replayed row) that ring
    the bell once, at the end, for every row they committed: one publish round and one
    `rung` update for a batch of 500, and a broker that is down costs one wait, not 500.
    Rows committed before an error are still rung."""
    held: list[int] = []
    token = _BATCH.set(held)
    try:
        yield
    finally:
        _BATCH.reset(token)
        if held:
            rt.bell.ring(list(dict.fromkeys(held)))
