"""The Celery application (configured from celeryconfig.py); tasks live in worker/tasks.py."""

from __future__ import annotations

from celery import Celery

# The name every ring sends; worker/tasks.py registers the task under it.
RUN_JOB = "handoff.run_job"

app = Celery("handoff")
app.config_from_object("celeryconfig")  # lazy: read on first use, not at import
