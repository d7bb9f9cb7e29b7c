"""The outbound ledger (jobs and their attempts) and what the processes coordinate through:
feed cursors, leases, heartbeats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from worker.db.clock import utcnow
from worker.db.models.base import Base, UTCDateTime
from worker.domain.enums import JobState


class Job(Base):
    """The outbound ledger: one row per effect on the outside world, with its attempts."""

    __tablename__ = "jobs"
    # ix_jobs_state_created: the oldest pending row (/metrics) without reading the others;
    # ix_jobs_kind_due: a kind's due rows, oldest first, without reading past a backlog of
    # another kind's (ledger.due_unclaimed: the push-backs a message takes beside its own)
    __table_args__ = (Index("ix_jobs_due", "state", "next_attempt_at"),
                      Index("ix_jobs_state_created", "state", "created_at"),
                      Index("ix_jobs_kind_due", "state", "kind", "next_attempt_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))  # a JobKind value
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(12), default=JobState.PENDING)  # a JobState value
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rung_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Attempt(Base):
    """Each try of a ledger row, with its outcome: what ops read next to the timeline."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(12))  # an AttemptOutcome value
    error: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_ms: Mapped[int | None] = mapped_column(Integer)  # the call to the other side


class Cursor(Base):
    """Position in an outside feed, advanced in the same transaction as what was read."""

    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(120), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Lease(Base):
    """A named lease so that one process at a time polls a feed or sweeps the ledger."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120), default="")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Heartbeat(Base):
    """When a worker last finished a task: for `handoff check`."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
