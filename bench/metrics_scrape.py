"""What one /metrics computation costs on PostgreSQL with an empty ledger and with N attempts.

Run: .venv/bin/python bench/metrics_scrape.py [--attempts 100000] [--scrapes 30]
                                              [--small 1000]
(PostgreSQL at TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/test).

For each size a fresh database is migrated and seeded in bulk (bench/pg_seed.py: N attempts
on N/2 ledger rows of N/4 hand-offs). Then the metrics body is computed as the web process
computes it when its cache is stale (`worker.service.views.metrics.render`, the database and nothing
else): once ("first": it also takes in the counter changes the seeding wrote, as the sweep
or the previous scrape would have), then, after VACUUM ANALYZE (what autovacuum does within
a minute), `--scrapes` more times; the median of those is the cost of a scrape. Prints both
sizes and the ratio N / 0. A third size (`--small`, default 1,000 attempts) has every series
an N-attempt ledger has (an empty one has no histogram series to write), so N / small is
the growth with the table alone.
"""

from __future__ import annotations

import argparse
import statistics
import time

from pg_seed import fresh_database, seed_attempts

import worker
from worker.db.engine import Database
from worker.service.views.metrics import render


def measure(attempts: int, scrapes: int) -> tuple[float, float]:
    """(first, median) computation time in milliseconds."""
    with fresh_database() as url:
        seed_attempts(url, attempts)
        db = Database(url)
        try:
            started = time.perf_counter()
            body = render(db)
            first = (time.perf_counter() - started) * 1000
            assert b"handoff_metrics_database_up 1.0" in body, body[:500]
            # the first scrape deleted what it folded: clear the dead rows, as autovacuum
            # does within a minute (a no-op where nothing was deleted)
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
            times = []
            for _ in range(scrapes):
                started = time.perf_counter()
                render(db)
                times.append((time.perf_counter() - started) * 1000)
            return first, statistics.median(times)
        finally:
            db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--small", type=int, default=1000)
    args = parser.parse_args()
    print(f"code under test: {worker.__file__}")
    results = {}
    for n in (0, args.small, args.attempts):
        first, median = measure(n, args.scrapes)
        results[n] = median
        print(f"{n:>7} attempts: first scrape {first:7.1f} ms, then median {median:6.2f} ms "
              f"over {args.scrapes}")
    print(f"ratio {args.attempts} / 0: {results[args.attempts] / results[0]:.2f}; "
          f"{args.attempts} / {args.small}: {results[args.attempts] / results[args.small]:.2f}")


if __name__ == "__main__":
    main()
