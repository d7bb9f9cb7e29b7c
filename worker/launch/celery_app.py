"""The Celery application (configured from celeryconfig.py) and the production bell that
rings through it; tasks live in worker/tasks.py."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import Celery

from worker.db.engine import Database
from worker.ports.bell import Bell
from worker.service import ledger

log = logging.getLogger(__name__)

# The name every ring sends; worker/tasks.py registers the task under it.
RUN_JOB = "handoff.run_job"

app = Celery("handoff")
app.config_from_object("celeryconfig")  # lazy: read on first use, not at import


class CeleryBell(Bell):
    """The production bell: one broker message per job, sent by task name."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ring(self, job_ids: Sequence[int]) -> int:
        """A failed publish is only logged: the row stays due and the sweep rings it again."""
        ids = [i for i in job_ids if i is not None]
        sent = 0
        for job_id in ids:
            try:
                app.send_task(RUN_JOB, args=(job_id,), retry=False)
                sent += 1
            except Exception as err:  # broker down: the row stays due in the ledger
                log.warning("could not ring job %s: %s", job_id, type(err).__name__)
                break
        if sent:
            with self.db.unit_of_work() as s:
                ledger.mark_rung(s, ids[:sent])
        return sent
