"""Prometheus metrics from the database's kept totals, computed when the web asks for them.

The HTTP clients run in worker processes, not in the web process that serves /metrics, so
call counts and call latencies come from the ledger: every try records its outcome and,
when a call was made, `duration_ms`. Counting those tables at each scrape cost more as the
ledger grew (3 ms empty, ~110 ms at 100,000 attempts), so the counts are kept instead:
triggers write each change as a delta in the writer's transaction, and a scrape folds the
deltas into the totals and reads them (worker/db/metric_counts.py). Only the oldest
pending row (the backlog) and the feed cursors are read from their tables. The carrier
quota's per-account counters come from the limiter's shared store (Redis or the
`rate_buckets` table), through `RateLimiter.usage()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.db import metric_counts
from worker.db.engine import Database
from worker.db.metric_counts import CALL_BUCKETS, bound_label
from worker.db.models import Cursor, Job, utcnow
from worker.db.readable import UNREADABLE, read_rows
from worker.domain.enums import AttemptOutcome, JobKind, JobState
from worker.domain.moments import elapsed
from worker.domain.sla_rules import Rule
from worker.domain.statuses import Status
from worker.ports.quota import RateLimiter
from worker.service.jobs import handler_for
from worker.service.ledger import uow

log = logging.getLogger(__name__)

LEDGER_STATES = (JobState.PENDING, JobState.DEAD)
OUTCOMES = tuple(AttemptOutcome)
KINDS = tuple(JobKind)


def system_of(kind: str) -> str:
    """Which side a ledger kind calls (its module's SYSTEM): the carrier, the one-stop
    system or the SLA receiver; "other" for a kind this code does not know."""
    handler = handler_for(kind)
    return handler.SYSTEM if handler is not None else "other"


class DatabaseCollector(Collector):
    """One read of the database per scrape; a database that does not answer reports up=0."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def describe(self) -> Iterator[Metric]:
        return iter(())  # nothing is read at registration time

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("handoff_metrics_database_up",
                               "1 if the database answered this scrape, else 0")
        try:
            families = self._read()
        except Exception:  # a scrape reports, it does not fail
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> list[Metric]:
        """Every family from one unit of work. A family whose stored values cannot be read
        back (a date past year 9999) is left out and counted; the others are still served.
        A database that does not answer raises: that is `up` = 0, not a skipped family."""
        now = utcnow()
        out: list[Metric] = []
        skipped = GaugeMetricFamily("handoff_metrics_families_skipped",
                                    "Families left out of this scrape: a stored value could "
                                    "not be read (see the web process log)")
        with uow.write(self.db) as s:  # a write: reading folds the pending deltas
            sc = Scrape(s, now, metric_counts.read(s))
            for build in FAMILIES:
                try:
                    out.append(build(sc))
                except UNREADABLE as err:
                    log.error("metric family %s left out: %s", build.__name__,
                              type(err).__name__)
        skipped.add_metric([], len(FAMILIES) - len(out))
        return [*out, skipped]


@dataclass(frozen=True)
class Scrape:
    """What every family reads from: the unit of work, the time, the kept totals."""

    s: Session
    now: datetime
    totals: dict[str, dict[str, int]]

    def total(self, name: str) -> dict[str, int]:
        return self.totals.get(name, {})


def _ledger(sc: Scrape) -> Metric:
    ledger = sc.total("jobs")
    rows = GaugeMetricFamily("handoff_ledger_rows", "Outbound ledger rows by state",
                             labels=["state"])
    for state in LEDGER_STATES:
        rows.add_metric([state], ledger.get(state, 0))
    return rows


def _oldest_pending(sc: Scrape) -> Metric:
    # the pending rows only, through ix_jobs_due (state first): the backlog, not the history
    oldest = sc.s.scalar(select(func.min(Job.created_at)).where(Job.state == JobState.PENDING))
    age = GaugeMetricFamily("handoff_ledger_oldest_pending_age_seconds",
                            "Age of the oldest pending ledger row (0 when none)")
    age.add_metric([], max(0.0, elapsed(oldest, sc.now).total_seconds()) if oldest else 0.0)
    return age


def _handoffs(sc: Scrape) -> Metric:
    by_status = sc.total("handoffs")
    handoffs = GaugeMetricFamily("handoff_handoffs", "Hand-offs by normalized status",
                                 labels=["status"])
    for status in [*Status, *sorted(set(by_status) - {s.value for s in Status})]:
        handoffs.add_metric([str(status)], by_status.get(str(status), 0))
    return handoffs


def _feed_lag(sc: Scrape) -> Metric:
    lag = GaugeMetricFamily("handoff_feed_lag_seconds",
                            "Seconds since a feed cursor last advanced", labels=["feed"])
    for name, at in read_rows(sc.s, select(Cursor.name, Cursor.updated_at), Cursor.name):
        lag.add_metric([name], max(0.0, elapsed(at, sc.now).total_seconds()))
    return lag


def _breaches(sc: Scrape) -> Metric:
    breaches = sc.total("breaches_open")
    open_ = GaugeMetricFamily("handoff_sla_breaches_open", "Open SLA breaches by rule",
                              labels=["rule"])
    for rule in [*Rule, *sorted(set(breaches) - {r.value for r in Rule})]:
        open_.add_metric([str(rule)], breaches.get(str(rule), 0))
    return open_


def _pair(labels: str) -> tuple[str, str]:
    kind, _, outcome = labels.partition("|")
    return kind, outcome


def _attempts(sc: Scrape) -> Metric:
    calls = CounterMetricFamily(
        "handoff_outbound_attempts",
        "Tries of outbound ledger rows (carrier: post_order, cancel_order; one-stop: "
        "push_status; notifier: notify) by outcome, kept as counters with the attempts",
        labels=["system", "kind", "outcome"])
    counted = {_pair(labels): n for labels, n in sc.total("attempts").items()}
    for kind, outcome in sorted({(k, o) for k in KINDS for o in OUTCOMES} | set(counted)):
        calls.add_metric([system_of(kind), kind, outcome], counted.get((kind, outcome), 0))
    return calls


def _latency(sc: Scrape) -> Metric:
    latency = HistogramMetricFamily(
        "handoff_outbound_call_seconds",
        "Duration of calls to the carrier (post_order, cancel_order), the one-stop "
        "system (push_status) and the SLA receiver (notify) by outcome, kept as counters "
        "with the attempts (tries with a call)",
        labels=["system", "kind", "outcome"])
    under = sc.total("calls_le")
    total_ms = sc.total("calls_ms")
    for labels, count in sorted(sc.total("calls").items()):
        if count <= 0:
            continue  # no timed try of this kind and outcome (any more)
        kind, outcome = _pair(labels)
        buckets = [(bound_label(le), float(under.get(f"{labels}|{bound_label(le)}", 0)))
                   for le in CALL_BUCKETS]
        latency.add_metric([system_of(kind), kind, outcome],
                           [*buckets, ("+Inf", float(count))],
                           float(total_ms.get(labels, 0)) / 1000)
    return latency


FAMILIES: tuple[Callable[[Scrape], Metric], ...] = (
    _ledger, _oldest_pending, _handoffs, _feed_lag, _breaches, _attempts, _latency)


class QuotaCollector(Collector):
    """The carrier quota per account (label: CarrierAccount.key, never a secret): requests
    let through (their rate is the request rate), waits for the bucket, 429s. One read of the
    limiter's store per scrape; a store that does not answer reports up=0."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("handoff_carrier_quota_up",
                               "1 if the quota's shared store answered this scrape, else 0")
        try:
            usage = self.limiter.usage()
        except Exception as err:  # a scrape reports, it does not fail
            log.error("quota usage not read: %s", type(err).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        families = {
            "requests": CounterMetricFamily(
                "handoff_carrier_requests", "Requests to the carrier let through by the quota "
                "(token requests included), per post-office account", labels=["account"]),
            "waited_seconds": CounterMetricFamily(
                "handoff_carrier_quota_wait_seconds", "Seconds requests waited for the "
                "account's quota bucket", labels=["account"]),
            "waits": CounterMetricFamily(
                "handoff_carrier_quota_waits", "Requests that had to wait for the account's "
                "quota bucket", labels=["account"]),
            "throttled": CounterMetricFamily(
                "handoff_carrier_throttled", "HTTP 429 answers from the carrier, per account",
                labels=["account"]),
        }
        for u in usage:
            for name, family in families.items():
                family.add_metric([u.account], getattr(u, name))
        yield from families.values()


def render(db: Database, limiter: RateLimiter | None = None) -> bytes:
    """The Prometheus text exposition, from a fresh registry holding only our collectors."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db))
    if limiter is not None:
        registry.register(QuotaCollector(limiter))
    return generate_latest(registry)
