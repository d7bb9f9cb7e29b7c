"""Every job kind, found here. A new kind is a new module, its JobKind member and label, and
one line below; see `base.py` for what a kind declares, `runner.py` for how a job runs,
`together.py` for the rows of one bell message and `sweeper.py` for the sweep that rings
due rows again. Above the flow: handlers call its use cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from worker.db.models import Job
from worker.domain.enums import JobKind
from worker.service.jobs import cancel_order, notify, post_order, push_status
from worker.service.jobs.base import JobHandler, Request, Result


def _entry(handler: JobHandler[Request, Result]) -> tuple[JobKind, JobHandler[Any, Any]]:
    # typed per module: mypy checks that what its prepare returns its perform takes, and
    # what its perform returns its settle takes
    return handler.KIND, handler


HANDLERS: dict[JobKind, JobHandler[Any, Any]] = dict([
    _entry(post_order),
    _entry(cancel_order),
    _entry(push_status),
    _entry(notify),
])


def handler_for(kind: str) -> JobHandler[Any, Any] | None:
    """The handler of a stored kind; None for a kind this code does not know."""
    try:
        return HANDLERS[JobKind(kind)]
    except ValueError:
        return None


def must_wait(session: Session, job: Job, now: datetime) -> bool:
    """The ordering rule of the job's kind, for the ledger's claim. A kind this code does not
    know never waits: the runner settles it dead once claimed."""
    handler = handler_for(job.kind)
    return handler is not None and handler.must_wait(session, job, now)
