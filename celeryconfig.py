"""Celery settings only; every value comes from the worker settings (HANDOFF_*)."""

from __future__ import annotations

from worker.settings import get_settings

_s = get_settings()

broker_url = _s.resolved_broker_url()
if _s.embedded:
    # The embedded default: kombu's filesystem transport, no server. Producers and
    # consumers share one folder; the ledger sweep covers what this transport cannot
    # (a message taken by a worker that then dies is gone; the row is rung again).
    _folder = _s.broker_folder()
    broker_transport_options = {
        "data_folder_in": str(_folder / "queue"),
        "data_folder_out": str(_folder / "queue"),
        "control_folder": str(_folder / "control"),
        "store_processed": False,
    }
    worker_enable_remote_control = False
else:
    # Longer than any task (task_time_limit) so Redis never re-delivers a running task.
    broker_transport_options = {"visibility_timeout": _s.visibility_timeout}

task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_cancel_long_running_tasks_on_connection_loss = True
broker_connection_retry_on_startup = True
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
task_time_limit = _s.task_time_limit
task_soft_time_limit = max(1, _s.task_time_limit - 30)
worker_concurrency = _s.worker_concurrency
worker_hijack_root_logger = False
timezone = "Asia/Ho_Chi_Minh"
enable_utc = True
beat_schedule_filename = str((_s.home / "celerybeat-schedule").resolve())

# Beat only rings: each task takes a database lease, so two beats or many workers are safe.
beat_schedule = {
    "sweep-ledger": {"task": "handoff.sweep", "schedule": _s.sweep_every},
    "poll-onestop": {"task": "handoff.poll_onestop", "schedule": _s.poll_onestop_every},
    "poll-carrier": {"task": "handoff.poll_carrier", "schedule": _s.poll_carrier_every},
}
# A periodic ring that sat in the queue longer than its period is useless: drop it.
task_routes = {"handoff.*": {"queue": "handoff"}}
task_default_queue = "handoff"
