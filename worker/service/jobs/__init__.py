"""One handler per job kind, found here. A new kind is a new module and one line below;
see `base.py` for what a handler is and `runner.py` for how a job runs."""

from __future__ import annotations

from worker.domain.enums import JobKind
from worker.service.jobs import cancel_order, notify, post_order, push_status
from worker.service.jobs.base import JobHandler

HANDLERS: dict[JobKind, JobHandler] = {
    JobKind.POST_ORDER: post_order,
    JobKind.CANCEL_ORDER: cancel_order,
    JobKind.PUSH_STATUS: push_status,
    JobKind.NOTIFY: notify,
}


def handler_for(kind: str) -> JobHandler | None:
    """The handler of a stored kind; None for a kind this code does not know."""
    try:
        return HANDLERS[JobKind(kind)]
    except ValueError:
        return None
