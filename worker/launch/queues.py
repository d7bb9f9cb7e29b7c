"""The broker's queues, in the order a worker names them (`handoff worker -Q ...`), and the
order a free pool process looks in them: the periodic rings' queue always first
(celeryconfig.py), then the carrier's ledger rows (courier orders and their cancels) and the
other rows (push-backs to the one-stop, notifications) in turn, one message from each while
both hold some. Redis: queue_order_strategy QUEUE_ORDER (worker/redis_broker.py); the
embedded broker the same (worker/embedded_broker.py).

Why the carrier's rows have a queue of their own: a row is rung into the broker's queue
behind every message already there, and after a burst those are mostly push-backs (about
six a hand-off). A post retried after a 429 or a lost connection then waited behind them
all: benchmark 1's last two orders were accepted 31 s after the 9,998 others, behind ten
thousand "accepted" push-backs (bench/RESULTS.md).

Why in turn and not the carrier's first: with the orders paced by the accounts' quotas a
backlog of posts keeps the pool busy, and taken first they held every push-back back until
the last order was posted (1,000 hand-offs at the default quotas: the one-stop heard
"accepted" 10.5 s after the post office at the median, 13.2-14.3 s at p99, the orders
taking 14.2-14.3 s; bench/pushbacks.py). In turn, a retried post waits for one message of
rows at most (of up to PUSHES_BESIDE x `job_batch` push-backs; the process takes its next
message once all but `job_threads` of them have started), and the one-stop hears each
status while the backlog of orders is still draining, a message of push-backs taking
those already due beside its own (worker/service/jobs/together.py `PUSHES_BESIDE`, where
it is measured: 5.6-5.9 s at the median)."""

from __future__ import annotations

PERIODIC_QUEUE = "handoff-periodic"
CARRIER_QUEUE = "handoff-carrier"
ROWS_QUEUE = "handoff"
LOOKED_IN = (PERIODIC_QUEUE, CARRIER_QUEUE, ROWS_QUEUE)
QUEUE_ORDER = "worker.redis_broker:FirstThenInTurn"  # kombu's queue_order_strategy
