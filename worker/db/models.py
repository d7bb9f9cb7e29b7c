"""SQLAlchemy models: hand-offs, the delivery-status log, the outbound ledger, cursors, leases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from worker.db.clock import utcnow as utcnow  # every stamp on the server's clock
from worker.domain.enums import JobState


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite has no zones), always returned timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Handoff(Base):
    """One postal hand-off of one dossier in one direction (and generation)."""

    __tablename__ = "handoffs"
    __table_args__ = (
        UniqueConstraint("dossier_code", "direction", "generation", name="uq_handoff_dossier"),
        Index("ix_handoffs_status", "status"),
        Index("ix_handoffs_agency_status", "agency_code", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_code: Mapped[str] = mapped_column(String(80))
    direction: Mapped[str] = mapped_column(String(20))
    generation: Mapped[int] = mapped_column(Integer, default=1)
    order_number: Mapped[str | None] = mapped_column(String(50), unique=True)
    source_item_id: Mapped[str] = mapped_column(String(80))
    agency_code: Mapped[str] = mapped_column(String(40), default="")
    agency_name: Mapped[str] = mapped_column(String(200), default="")
    procedure_code: Mapped[str] = mapped_column(String(40), default="")
    procedure_name: Mapped[str] = mapped_column(String(300), default="")
    citizen_name: Mapped[str] = mapped_column(String(200), default="")
    citizen_phone: Mapped[str] = mapped_column(String(20), default="")
    citizen_email: Mapped[str | None] = mapped_column(String(200))
    citizen_address: Mapped[str] = mapped_column(String(400), default="")
    province_code: Mapped[str] = mapped_column(String(8), default="")
    ward_code: Mapped[str] = mapped_column(String(8), default="")
    cod_amount: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(24))
    status_reason: Mapped[str] = mapped_column(Text, default="")
    item_code: Mapped[str | None] = mapped_column(String(20), index=True)
    last_carrier_code: Mapped[int | None] = mapped_column(Integer)
    last_carrier_text: Mapped[str] = mapped_column(String(200), default="")
    ready_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the one-stop announced it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StatusLogEntry(Base):
    """The delivery-status log: every event received or produced, applied or not."""

    __tablename__ = "status_log"
    __table_args__ = (Index("ix_status_log_handoff", "handoff_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoffs.id"))
    dossier_code: Mapped[str] = mapped_column(String(80), default="", index=True)
    order_number: Mapped[str] = mapped_column(String(50), default="")
    source: Mapped[str] = mapped_column(String(16))  # feed, webhook, desk, worker, onestop
    status: Mapped[str | None] = mapped_column(String(24))
    raw_code: Mapped[str] = mapped_column(String(16), default="")
    raw_text: Mapped[str] = mapped_column(String(400), default="")
    post_office: Mapped[str] = mapped_column(String(40), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")  # the English words, for scripts
    # the reason as data (worker/domain/reason_codes.py): words are looked up when shown
    reason_code: Mapped[str | None] = mapped_column(String(40))
    reason_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Job(Base):
    """The outbound ledger: one row per effect on the outside world, with its attempts."""

    __tablename__ = "jobs"
    # ix_jobs_state_created: the oldest pending row (/metrics) without reading the others
    __table_args__ = (Index("ix_jobs_due", "state", "next_attempt_at"),
                      Index("ix_jobs_state_created", "state", "created_at"))

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


class Receipt(Base):
    """Inbound ids already taken (feed items, webhooks): dedup by unique index."""

    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_receipt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(120))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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


class User(Base):
    """A person at the desk or in ops. Passwords are stored as scrypt hashes only."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(12))  # ops, desk
    agency_code: Mapped[str | None] = mapped_column(String(40))  # desk staff: their agency
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlaBreach(Base):
    """A hand-off that broke an SLA rule; notified once per hand-off and rule."""

    __tablename__ = "sla_breaches"
    __table_args__ = (UniqueConstraint("handoff_id", "rule", name="uq_sla_breach"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    rule: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AgencySetting(Base):
    """An agency's dispatch mode changed on the settings page; it wins over the environment."""

    __tablename__ = "agency_settings"

    agency_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    dispatch: Mapped[str] = mapped_column(String(8))  # auto, desk
    updated_by: Mapped[str] = mapped_column(String(80), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebSession(Base):
    """A signed-in browser. The cookie carries only a random id; this row is the session.

    Logout deletes the row; a password change or deactivation deletes all of a user's rows,
    so an old cookie is worth nothing afterwards. Only the SHA-256 of the id is stored.
    """

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginAttempt(Base):
    """Login tries counted before the password is checked, shared by every web process.

    `key` is "user:<name>", "addr:<client>" or "pair:<name>|<client>"; old rows are pruned.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiToken(Base):
    """A bearer token of the desk API, bound to one agency (or, if made so, to all).

    Only the SHA-256 of the token is stored; `prefix` lets people tell tokens apart.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agency_code: Mapped[str | None] = mapped_column(String(40))  # None only with all_agencies
    all_agencies: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Agency(Base):
    """One agency of the province: its sender block, how it dispatches, the route and the
    post-office account its orders go by, its SLA overrides.

    `credentials` holds the account's customer key, secret key and push secret as one
    Fernet token (worker/service/agencies/vault.py): never shown, logged or exported. An agency with
    no `customer_code` posts through the deployment's default account (route A).
    """

    __tablename__ = "agencies"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sender_tel: Mapped[str] = mapped_column(String(20), default="")
    sender_email: Mapped[str] = mapped_column(String(200), default="")
    sender_address: Mapped[str] = mapped_column(String(400), default="")
    province_code: Mapped[str] = mapped_column(String(8), default="")  # GSO
    ward_code: Mapped[str] = mapped_column(String(8), default="")  # GSO
    dispatch: Mapped[str] = mapped_column(String(8))  # a DispatchMode value
    route: Mapped[str] = mapped_column(String(8))  # a Route value
    customer_code: Mapped[str | None] = mapped_column(String(40))  # None: default account
    credentials: Mapped[str | None] = mapped_column(Text)  # Fernet token, or None
    quota_per_second: Mapped[float | None] = mapped_column(Float)  # None: the setting
    sla: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # overrides of the SLA limits
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(80), default="")


class DeploymentMark(Base):
    """Things done once per database (e.g. "agencies-seeded": the fresh-database seed from
    HANDOFF_AGENCIES ran), so a later start never does them again."""

    __tablename__ = "deployment_marks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CarrierPushReceipt(Base):
    """A status push the carrier sent, by its `ems-transaction` id: the carrier re-sends
    the same id until it is answered "success", and a re-sent one is answered again
    without being applied twice. `content_key` (a hash of the order, status code and time
    the push told; integrations/carriers/vnpost/push.py) holds the same content under a new id to
    one receipt too: a captured push replayed with fresh ids is taken once."""

    __tablename__ = "carrier_push_receipts"
    __table_args__ = (UniqueConstraint("agency_code", "transaction_id",
                                       name="uq_push_receipt"),
                      Index("uq_push_receipt_content", "agency_code", "content_key",
                            unique=True))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_code: Mapped[str] = mapped_column(String(40))
    transaction_id: Mapped[str] = mapped_column(String(100))
    order_number: Mapped[str] = mapped_column(String(50), default="")
    content_key: Mapped[str | None] = mapped_column(String(64))  # None: stored before 0010
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class RateBucket(Base):
    """One post-office account's request budget on the embedded default (worker/service/
    quota.py; Redis holds it in production): the last granted slot, a 429's hold, and the
    counters /metrics reads, since the web process is not the one sending the requests.
    Times are epoch seconds of the database's clock."""

    __tablename__ = "rate_buckets"

    account: Mapped[str] = mapped_column(String(80), primary_key=True)  # CarrierAccount.key
    last_slot: Mapped[float] = mapped_column(Float, default=0.0)
    blocked_until: Mapped[float] = mapped_column(Float, default=0.0)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    waits: Mapped[int] = mapped_column(BigInteger, default=0)
    waited_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    throttled: Mapped[int] = mapped_column(BigInteger, default=0)


class CarrierArea(Base):
    """One ward's post-office area: GSO (province, ward) -> the carrier's own (province,
    district) codes, which an order must carry. `handoff areas import` replaces every row
    in one transaction, so each order sees one table, old or new, never a mix."""

    __tablename__ = "carrier_areas"

    gso_province: Mapped[int] = mapped_column(Integer, primary_key=True)
    gso_ward: Mapped[int] = mapped_column(Integer, primary_key=True)
    carrier_province: Mapped[int] = mapped_column(Integer)
    carrier_district: Mapped[int] = mapped_column(Integer)


class CarrierAreaTable(Base):
    """The one row (id 1) saying where `carrier_areas` came from: the shipped placeholders
    (migration 0009) or a file the post office handed over, imported by whom and when."""

    __tablename__ = "carrier_area_table"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))  # file name, or "placeholder"
    placeholder: Mapped[bool] = mapped_column(Boolean, default=True)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(80), default="")


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


class HandoverRecord(Base):
    """A hand-over record (biên bản bàn giao) the agency and the postal worker sign: which
    envelopes the courier took (result delivery) or which dossiers they brought (pickup).
    Open until the desk marks it handed over or the carrier's event closes it (migration 0012,
    worker/service/flow/handover.py)."""

    __tablename__ = "handover_records"
    __table_args__ = (Index("ix_handover_open", "closed_at", "created_at"),
                      Index("ix_handover_content", "agency_code", "direction", "content_key"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(80), unique=True)  # BB-<agency>-<yyyymmdd>-<nnn>
    agency_code: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(20))
    content_key: Mapped[str] = mapped_column(String(64))  # sha256 of the hand-off ids
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str] = mapped_column(String(80), default="")
    closed_how: Mapped[str | None] = mapped_column(String(16))  # ClosedHow: desk, carrier,
    # cancelled or replaced; replaced_by: the number of the record that replaced it
    replaced_by: Mapped[str | None] = mapped_column(String(80))
    # what it prints, stored when made: a reprint is this, not the hand-offs as they are now
    printed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class HandoverRecordItem(Base):
    """One hand-off on a record; `open_handoff_id` (unique) is set while the record is
    open, so a hand-off is on at most one open record."""

    __tablename__ = "handover_record_items"
    __table_args__ = (Index("uq_handover_item_open", "open_handoff_id", unique=True),
                      Index("ix_handover_item_handoff", "handoff_id"))

    record_id: Mapped[int] = mapped_column(ForeignKey("handover_records.id"), primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    open_handoff_id: Mapped[int | None] = mapped_column(Integer)


class CodLedger(Base):
    """The fee reconciliation (COD) of one hand-off, from the carrier's tracking feed: when
    the courier collected the fee from the citizen (code 6) and when the post office paid
    it to the agency (code 8), by which feed event, and the amount each reported when the
    doc carried one (None: not reported; the contract has no amount field). What was
    expected is the hand-off's own `cod_amount` (sent as CODAmount on the order). The first
    event of each kind is kept; a repeat changes nothing (worker/service/flow/cod.py)."""

    __tablename__ = "cod_ledger"

    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), primary_key=True)
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    collected_event: Mapped[str | None] = mapped_column(String(64))
    collected_amount: Mapped[int | None] = mapped_column(BigInteger)
    remitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remitted_event: Mapped[str | None] = mapped_column(String(64))
    remitted_amount: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
