"""The broker's queues, in the order a worker looks in them (`handoff worker -Q ...`; Redis:
queue_order_strategy "priority", the embedded broker the same): the periodic rings first
(celeryconfig.py), then the carrier's ledger rows (courier orders and their cancels), then
the other rows (push-backs to the one-stop, notifications).

Why the carrier's rows have a queue of their own: a row is rung into the broker's queue
behind every message already there, and after a burst those are mostly push-backs (about
six a hand-off). A post retried after a 429 or a lost connection then waited behind them
all: benchmark 1's last two orders were accepted 31 s after the 9,998 others, behind ten
thousand "accepted" push-backs (bench/RESULTS.md). A courier order is what the citizen
and the post office wait on; a push-back waits on nobody but the one-stop's page.

Tried and not kept: the carrier's queue and the rows' taken in turn (kombu's queue cycle on
Redis, the same on the embedded broker). With the orders paced by the accounts' quotas the
carrier's messages keep both pool processes busy and the one-stop hears "accepted" only
once the backlog's orders are posted (`python -m bench.pushbacks --handoffs 1000`: 10.5 s
after the post office at the median, the orders taking 14.3 s); in turn, with a message of
push-backs taking those due beside it (jobs/together.py), 5.6-5.9 s. But where the pool
processes' CPU is what runs out, in turn gives it to the push-backs at the orders' expense:
at a steady 100 hand-offs/s an order's p99 went from 1.16 s to 2.66 s by feed (goal 2 s)
and from 0.66 s to 1.78 s by webhook (goal 1 s), and a whole `make bench` run's burst from
the one-stop to orders accepted fell to 304.7 hand-offs/s (565.8 in the last whole run on
this kind of CPU). The courier order comes first; the wait of the one-stop behind a
quota-paced backlog is a known limit (docs/deployment.md)."""

from __future__ import annotations

PERIODIC_QUEUE = "handoff-periodic"
CARRIER_QUEUE = "handoff-carrier"
ROWS_QUEUE = "handoff"
LOOKED_IN = (PERIODIC_QUEUE, CARRIER_QUEUE, ROWS_QUEUE)
