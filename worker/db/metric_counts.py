"""The totals /metrics serves, kept as counters: fold the triggers' deltas, read the totals.

Triggers (migration 0011) add a `metric_deltas` row in the same transaction as every
insert, delete or counted change of a hand-off (status), ledger row (state), SLA breach
(open, by rule) and attempt (kind, outcome, call duration). `fold` moves the committed
deltas into `metric_counts`; the scrape and the sweep call it, so a scrape costs the
deltas written since the last fold plus a few hundred totals, never a count of the tables.

Totals, by name: `handoffs` (labels: status), `jobs` (state), `breaches_open` (rule),
`attempts`, `calls` (timed attempts) and `calls_ms` (their summed milliseconds) (labels:
"kind|outcome"), `calls_le` ("kind|outcome|bound": timed attempts at or under the bound).
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from worker.db.models import MetricCount, MetricDelta

# Upper bounds of the call-latency buckets in seconds (+Inf is the `calls` total). Whole
# milliseconds, as durations are stored; `calls_le` is kept for exactly these bounds, so a
# change here needs the totals rebuilt (a migration), or old calls count in no new bucket.
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FOLD_CHUNK = 5000  # deltas deleted and summed per statement: memory stays flat after a pause
FOLD_LOCK = 0x6D657472  # PostgreSQL advisory lock: one fold at a time across processes

Key = tuple[str, str]


def bound_label(bound: float) -> str:
    """A bucket bound as Prometheus client libraries write it (0.05, 1.0, 10.0)."""
    return repr(float(bound))


def _add_delta(totals: Counter[Key], name: str, labels: str, n: int, ms: int | None) -> None:
    totals[(name, labels)] += n
    if name != "attempts" or ms is None:
        return
    totals[("calls", labels)] += n
    totals[("calls_ms", labels)] += n * ms
    for bound in CALL_BUCKETS:
        if ms <= round(bound * 1000):
            totals[("calls_le", f"{labels}|{bound_label(bound)}")] += n


def fold(session: Session) -> int:
    """Move every committed delta into the totals, in this transaction; returns how many.

    A delta is summed exactly when this transaction deletes it, so one committed by a slow
    writer after the DELETE looked is simply left for the next fold: none is lost or taken
    twice. Folds are serialized (advisory lock on PostgreSQL; every SQLite transaction
    already holds the write lock) so two never update the same totals in another order."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FOLD_LOCK})
    totals: Counter[Key] = Counter()
    taken = 0
    while True:
        oldest = select(MetricDelta.id).order_by(MetricDelta.id).limit(FOLD_CHUNK)
        rows = session.execute(
            delete(MetricDelta).where(MetricDelta.id.in_(oldest.scalar_subquery()))
            .returning(MetricDelta.name, MetricDelta.labels, MetricDelta.n, MetricDelta.ms)
            .execution_options(synchronize_session=False)).all()
        for name, labels, n, ms in rows:
            _add_delta(totals, name, labels, n, ms)
        taken += len(rows)
        if len(rows) < FOLD_CHUNK:
            break
    changed = {key: n for key, n in totals.items() if n}
    if changed:
        stored = {(c.name, c.labels): c for c in session.scalars(select(MetricCount))}
        for key in sorted(changed):
            if key in stored:
                stored[key].value += changed[key]
            else:
                session.add(MetricCount(name=key[0], labels=key[1], value=changed[key]))
    return taken


def read(session: Session) -> dict[str, dict[str, int]]:
    """Every total: {name: {labels: value}}, after folding what is pending."""
    fold(session)
    out: dict[str, dict[str, int]] = {}
    for name, labels, value in session.execute(
            select(MetricCount.name, MetricCount.labels, MetricCount.value)):
        out.setdefault(name, {})[labels] = int(value)
    return out
