"""A Celery app with one no-op task, for bench/celery_ceiling.py: the dispatch ceiling of
Celery itself (publish, deliver, ack) on the same broker and pool the worker uses, with the
same delivery settings (acks late, prefetch 1), so the project's figures have a neighbour
that does no work at all. The broker URL comes from BENCH_BROKER_URL."""

from __future__ import annotations

import os

import redis
from celery import Celery

app = Celery("noop", broker=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/15"))
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, task_ignore_result=True,
                task_serializer="json", accept_content=["json"],
                worker_hijack_root_logger=False)
_counter: redis.Redis | None = None


@app.task(name="bench.noop", ignore_result=True)
def noop(n: int) -> None:
    """Count one delivery (INCR on the broker's Redis: the only work done)."""
    global _counter
    if _counter is None:
        _counter = redis.Redis.from_url(app.conf.broker_url)
    _counter.incr("bench:noop:done")
