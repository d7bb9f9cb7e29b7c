"""Celery settings only; every value comes from the worker settings (HANDOFF_*)."""

from __future__ import annotations

from worker import embedded_broker, redis_broker
from worker.launch.queues import PERIODIC_QUEUE, ROWS_QUEUE
from worker.settings import get_settings

_s = get_settings()

broker_url = _s.resolved_broker_url()
if _s.embedded:
    # The embedded default: an SQLite-backed kombu transport (worker/embedded_broker.py),
    # no server. It has no broadcast, so remote control is off; it does not redeliver a
    # message whose worker died, which the ledger sweep covers by ringing the row again.
    embedded_broker.register()
    broker_transport_options: dict[str, object] = {}
    worker_enable_remote_control = False
else:
    # Redis URLs load kombu's Redis transport with a close that survives a Redis restart
    # (worker/redis_broker.py: kombu's own stopped the worker for good).
    redis_broker.register()
    # Longer than any task (task_time_limit) so Redis never re-delivers a running task.
    # A broker link that goes silent without closing (a half-open connection) must not hold
    # a process: each call on the socket gives up after socket_timeout (longer than the
    # consumer's 1 s BRPOP), so a ring from the web fails fast (the sweep rings the row
    # again) and a worker or beat reconnects; health checks find a dead idle link. A
    # publish meets a dead broker at once (max_retries 0) instead of retrying the connection
    # for broker_connection_timeout (~6 s a ring, serialised by the producer pool: webhook
    # answers queued past 30 s while Redis was down); the worker's own reconnect loop passes
    # its own arguments and is not affected.
    broker_transport_options = {"visibility_timeout": _s.visibility_timeout,
                                "socket_timeout": 5.0, "socket_connect_timeout": 5.0,
                                "socket_keepalive": True, "health_check_interval": 10,
                                "max_retries": 0,
                                # each look takes from the queues in the order the worker
                                # names them, the periodic rings' first (below)
                                "queue_order_strategy": "priority"}

task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
# On Redis a task whose message can no longer be acknowledged (the connection it came on is
# gone) is stopped, as Redis will deliver its message again. On the embedded broker its
# "connection loss" is its file refusing a write (a full disk, a lock past its timeout),
# often many times a second, and there the worker runs billiard's plain pool, whose pool
# processes share one lock on their result queue: stopping a task SIGTERMs its pool process,
# and one killed while it held that lock left the worker hung for good (chaos scenario 12
# beside scenario 1, `--keep`: both pool processes waiting on the lock, nothing consumed for
# 6 min after space came back). There the task runs on; kombu writes its message back to
# the file when it can (the message may then run again: the ledger's claim and leases make
# that harmless) and the sweep rings its rows when it cannot.
worker_cancel_long_running_tasks_on_connection_loss = not _s.embedded
broker_connection_retry_on_startup = True
# a worker never gives up on the broker (the default gives up after 100 tries, ~45 min)
broker_connection_max_retries = None
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
# Celery's consumer, but it tries a lost broker again at most every 5 s (worker/launch/consumer.py)
worker_consumer = "worker.launch.consumer:Consumer"
# Celery's persistent scheduler, but a failed send reconnects (worker/launch/beat.py)
beat_scheduler = "worker.launch.beat:Scheduler"
beat_schedule_filename = str((_s.home / "celerybeat-schedule").resolve())

# Beat only rings: each task takes a database lease, so two beats or many workers are safe.
# A periodic ring that sat in the queue longer than twice its period is useless: it expires.
PERIODIC = (
    ("sweep-ledger", "handoff.sweep", _s.sweep_every),
    ("poll-onestop", "handoff.poll_onestop", _s.poll_onestop_every),
    ("poll-carrier", "handoff.poll_carrier", _s.poll_carrier_every),
    ("mark-sla", "handoff.mark_sla", _s.sla_check_every),
)
beat_schedule = {
    name: {"task": task, "schedule": every, "options": {"expires": max(2.0, 2 * every)}}
    for name, task, every in PERIODIC
}
# The periodic rings have a queue of their own: behind a backlog of ledger rows (the
# sweep's 500 due rows were 32 messages of 16; 8 of 64 now) they expired unread, and the
# feeds were not polled while the backlog lasted (chaos scenario 11 counted 190 such rings
# on one worker).
# A worker consumes it and the rows' queues, the periodic queue named first (`handoff
# worker`: -Q handoff-periodic,handoff-carrier,handoff, worker/launch/queues.py), and each
# free pool process takes from it first (Redis:
# queue_order_strategy "priority"; the embedded broker looks in the same order): taken in
# turn, as before, a ring still waited for every other free process and most expired in a
# long backlog (chaos scenario 3: 64 of 105 feed polls expired in the minute after Redis
# came back, and the feed's hand-offs were dispatched 73 s after it, past the scenario's
# 60 s). A ring runs in milliseconds when there is nothing to do (its lease held, or
# nothing new), and each periodic task is rung once per period (every 15-60 s by default;
# every second on the demo's and the tests' fast schedules): the rows keep the rest.
# (the carrier's rows have a queue of their own too, between the two: worker/launch/queues.py)
task_routes = {task: {"queue": PERIODIC_QUEUE} for _, task, _ in PERIODIC}
task_default_queue = ROWS_QUEUE
