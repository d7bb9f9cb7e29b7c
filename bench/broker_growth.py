"""The embedded broker after many messages: kombu's SQLAlchemy transport as shipped against
ours (worker/embedded_broker.py), in the same run.

Run: .venv/bin/python -m bench.broker_growth [--messages 2000] [--month 200000]

Each sends and takes `--messages` messages through one queue of a fresh SQLite broker
file, then times a consumer's look at the empty queue (what an idle worker did 20 times a
second). kombu's transport keeps every message taken, marked invisible, and its look scans
past them; ours deletes a message when it is taken. Then `--month` more taken messages are
written straight into both files, as kombu's transport leaves them (what a busy month of
a province leaves), and the looks are timed again: ours deletes them at its first look.
Prints the rows left and the time of one empty look for each, and the ratios.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from kombu import Connection
from kombu.transport.virtual.base import Empty

from worker import embedded_broker
from worker.embedded_broker import url_for

LOOKS = 200


def _run(url: str, path: Path, messages: int, month: int) -> dict[str, float]:
    with Connection(url) as conn:
        queue = conn.SimpleQueue("handoff")
        for n in range(messages):
            queue.put({"n": n})
            queue.get(timeout=5).ack()
        channel = queue.consumer.channel
        out = {"rows_left": channel.session.query(channel.message_cls).count(),
               "look_ms": _look_ms(channel)}
        with sqlite3.connect(path) as db:  # a month's taken messages, as kombu leaves them
            db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                       "WHERE i < ?) INSERT INTO kombu_message "
                       "(visible, timestamp, payload, version, queue_id) "
                       "SELECT 0, datetime('now'), '{}', 1, (SELECT id FROM kombu_queue) FROM n",
                       (month,))
        embedded_broker._SWEPT.clear()  # as a process starting on that file
        channel._get_or_create("handoff")
        _look_ms(channel)  # the first look (ours deletes the month's rows there)
        out["month_look_ms"] = _look_ms(channel)
        out["month_rows_left"] = channel.session.query(channel.message_cls).count()
    return out


def _look_ms(channel: Any) -> float:
    started = time.perf_counter()
    for _ in range(LOOKS):
        try:
            channel._get("handoff")
        except Empty:  # the look found nothing, as an idle worker's does
            channel.session.rollback()
    return (time.perf_counter() - started) / LOOKS * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=2_000)
    p.add_argument("--month", type=int, default=200_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stock_path, ours_path = Path(tmp) / "stock.db", Path(tmp) / "ours.db"
        stock = _run(f"sqlalchemy+sqlite:///{stock_path}", stock_path, args.messages,
                     args.month)
        ours = _run(url_for(str(ours_path)), ours_path, args.messages, args.month)
    for name, r in (("kombu's transport", stock), ("ours", ours)):
        print(f"{name:18} after {args.messages:,} messages: rows left {r['rows_left']:>7,}, "
              f"an empty look {r['look_ms']:.3f} ms; with a month's {args.month:,} more: "
              f"rows left {r['month_rows_left']:>7,}, an empty look {r['month_look_ms']:.3f} ms")
    print(f"an empty look, kombu's transport / ours: {stock['look_ms'] / ours['look_ms']:.1f} x "
          f"after {args.messages:,} messages, {stock['month_look_ms'] / ours['month_look_ms']:.1f}"
          f" x after a month ({LOOKS} looks each; kombu's transport looks 20 times a second)")


if __name__ == "__main__":
    main()
