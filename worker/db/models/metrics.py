"""Counters /metrics reads, kept in the database (totals and their deltas)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from worker.db.models.base import Base


class MetricCount(Base):
    """A running total /metrics serves (hand-offs by status, ledger rows by state, open
    breaches by rule, attempts and call durations by kind and outcome): a scrape reads these
    few hundred rows, whatever the size of the tables they count
    (worker/db/metric_counts.py)."""

    __tablename__ = "metric_counts"

    name: Mapped[str] = mapped_column(String(24), primary_key=True)
    labels: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class MetricDelta(Base):
    """One change to a total, written by a trigger in the transaction that changed the
    counted row (migration 0011), folded into metric_counts by the next scrape or sweep.
    Insert-only: concurrent writers never wait on a shared counter row."""

    __tablename__ = "metric_deltas"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    name: Mapped[str] = mapped_column(String(24))
    labels: Mapped[str] = mapped_column(String(200))
    n: Mapped[int] = mapped_column(Integer)
    ms: Mapped[int | None] = mapped_column(Integer)  # an attempt's call duration
