"""The broker's queues, in the order a worker looks in them (`handoff worker -Q ...`; Redis:
queue_order_strategy "priority", the embedded broker the same): the periodic rings first
(celeryconfig.py), then the carrier's ledger rows (courier orders and their cancels), then
the other rows (push-backs to the one-stop, notifications).

Why the carrier's rows have a queue of their own: a row is rung into the broker's queue
behind every message already there, and after a burst those are mostly push-backs (about
six a hand-off). A post retried after a 429 or a lost connection then waited behind them
all: benchmark 1's last two orders were accepted 31 s after the 9,998 others, behind ten
thousand "accepted" push-backs (bench/RESULTS.md). A courier order is what the citizen
and the post office wait on; a push-back waits on nobody but the one-stop's page."""

from __future__ import annotations

PERIODIC_QUEUE = "handoff-periodic"
CARRIER_QUEUE = "handoff-carrier"
ROWS_QUEUE = "handoff"
LOOKED_IN = (PERIODIC_QUEUE, CARRIER_QUEUE, ROWS_QUEUE)
