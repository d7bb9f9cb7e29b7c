"""Prometheus metrics read from the database at scrape time (the ledger is the truth).

The HTTP clients run in worker processes, not in the web process that serves /metrics, so
call counts and call latencies come from the `attempts` table: every try records its
outcome and, when a call was made, `duration_ms`. The latency histogram is counted in SQL
(one `SUM(CASE ...)` per bucket, grouped by kind and outcome), never by loading the rows.
The carrier quota's per-account counters come the same way from the limiter's shared store
(Redis or the `rate_buckets` table), through `RateLimiter.usage()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from worker.db.engine import Database
from worker.db.models import Attempt, Cursor, Handoff, Job, SlaBreach, utcnow
from worker.domain.enums import AttemptOutcome, JobKind, JobState
from worker.domain.moments import elapsed
from worker.domain.sla_rules import Rule
from worker.domain.statuses import Status
from worker.ports.quota import RateLimiter
from worker.service.readable import UNREADABLE, read_rows

log = logging.getLogger(__name__)

LEDGER_STATES = (JobState.PENDING, JobState.DEAD)
OUTCOMES = tuple(AttemptOutcome)
KINDS = tuple(JobKind)
# Which side each kind calls (the metrics' `system` label).
SYSTEMS: dict[str, str] = {JobKind.POST_ORDER: "carrier", JobKind.CANCEL_ORDER: "carrier",
                           JobKind.PUSH_STATUS: "onestop", JobKind.NOTIFY: "notifier"}
# Upper bounds of the call-latency buckets, in seconds (+Inf is added); whole milliseconds,
# since durations are stored as integer milliseconds.
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def system_of(kind: str) -> str:
    """Which side a ledger kind calls: the carrier, the one-stop system or the SLA receiver."""
    return SYSTEMS.get(kind, "other")


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
        with self.db.unit_of_work() as s:
            for build in FAMILIES:
                try:
                    out.append(build(s, now))
                except UNREADABLE as err:
                    log.error("metric family %s left out: %s", build.__name__,
                              type(err).__name__)
        skipped.add_metric([], len(FAMILIES) - len(out))
        return [*out, skipped]


def _ledger(s: Session, now: datetime) -> Metric:
    ledger = dict(s.execute(select(Job.state, func.count()).group_by(Job.state)).all())
    rows = GaugeMetricFamily("handoff_ledger_rows", "Outbound ledger rows by state",
                             labels=["state"])
    for state in LEDGER_STATES:
        rows.add_metric([state], ledger.get(state, 0))
    return rows


def _oldest_pending(s: Session, now: datetime) -> Metric:
    oldest = s.scalar(select(func.min(Job.created_at)).where(Job.state == JobState.PENDING))
    age = GaugeMetricFamily("handoff_ledger_oldest_pending_age_seconds",
                            "Age of the oldest pending ledger row (0 when none)")
    age.add_metric([], max(0.0, elapsed(oldest, now).total_seconds()) if oldest else 0.0)
    return age


def _handoffs(s: Session, now: datetime) -> Metric:
    by_status = dict(s.execute(select(Handoff.status, func.count()).group_by(Handoff.status)).all())
    handoffs = GaugeMetricFamily("handoff_handoffs", "Hand-offs by normalized status",
                                 labels=["status"])
    for status in [*Status, *sorted(set(by_status) - {s.value for s in Status})]:
        handoffs.add_metric([str(status)], by_status.get(str(status), 0))
    return handoffs


def _feed_lag(s: Session, now: datetime) -> Metric:
    lag = GaugeMetricFamily("handoff_feed_lag_seconds",
                            "Seconds since a feed cursor last advanced", labels=["feed"])
    for name, at in read_rows(s, select(Cursor.name, Cursor.updated_at), Cursor.name):
        lag.add_metric([name], max(0.0, elapsed(at, now).total_seconds()))
    return lag


def _breaches(s: Session, now: datetime) -> Metric:
    breaches = dict(s.execute(
        select(SlaBreach.rule, func.count()).where(SlaBreach.cleared_at.is_(None))
        .group_by(SlaBreach.rule)).all())
    open_ = GaugeMetricFamily("handoff_sla_breaches_open", "Open SLA breaches by rule",
                              labels=["rule"])
    for rule in [*Rule, *sorted(set(breaches) - {r.value for r in Rule})]:
        open_.add_metric([str(rule)], breaches.get(str(rule), 0))
    return open_


def _attempts(s: Session, now: datetime) -> Metric:
    attempts = s.execute(
        select(Job.kind, Attempt.outcome, func.count())
        .join(Job, Job.id == Attempt.job_id).group_by(Job.kind, Attempt.outcome)).all()
    calls = CounterMetricFamily(
        "handoff_outbound_attempts",
        "Tries of outbound ledger rows (carrier: post_order, cancel_order; one-stop: "
        "push_status; notifier: notify) by outcome, from the attempts table",
        labels=["system", "kind", "outcome"])
    counted = {(k, o): n for k, o, n in attempts}
    for kind, outcome in sorted({(k, o) for k in KINDS for o in OUTCOMES} | set(counted)):
        calls.add_metric([system_of(kind), kind, outcome], counted.get((kind, outcome), 0))
    return calls


def _latency(s: Session, now: datetime) -> Metric:
    timed = s.execute(
        select(Job.kind, Attempt.outcome, func.count(), func.sum(Attempt.duration_ms),
               *[func.sum(case((Attempt.duration_ms <= round(le * 1000), 1), else_=0))
                 for le in CALL_BUCKETS])
        .join(Job, Job.id == Attempt.job_id).where(Attempt.duration_ms.is_not(None))
        .group_by(Job.kind, Attempt.outcome)).all()
    latency = HistogramMetricFamily(
        "handoff_outbound_call_seconds",
        "Duration of calls to the carrier (post_order, cancel_order), the one-stop "
        "system (push_status) and the SLA receiver (notify) by outcome, from the attempts "
        "table (tries with a call)",
        labels=["system", "kind", "outcome"])
    for kind, outcome, count, total_ms, *under in sorted(timed, key=lambda r: (r[0], r[1])):
        buckets = [(_le(le), float(n or 0)) for le, n in zip(CALL_BUCKETS, under, strict=True)]
        latency.add_metric([system_of(kind), kind, outcome],
                           [*buckets, ("+Inf", float(count))], float(total_ms or 0) / 1000)
    return latency


FAMILIES: tuple[Callable[[Session, datetime], Metric], ...] = (
    _ledger, _oldest_pending, _handoffs, _feed_lag, _breaches, _attempts, _latency)


def _le(bound: float) -> str:
    """A bucket bound as Prometheus client libraries write it (0.05, 1.0, 10.0)."""
    return repr(float(bound))


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
