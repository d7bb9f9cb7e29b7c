"""The one settings object, read from HANDOFF_* environment variables at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.domain.enums import DispatchMode

DEFAULT_HOME = Path("var")


class AgencyConfig(BaseModel):
    """One agency's sender block at the post office and its dispatch mode."""

    name: str = Field(default="Bộ phận Một cửa", description=(
        "Sender name at the post office: the agency's name."))
    tel: str = Field(default="02773000000", description="Sender phone.")
    email: str = Field(default="motcua@example.gov.vn", description="Sender email.")
    address: str = Field(default="Trung tâm Phục vụ hành chính công", description=(
        "Sender street address."))
    province_code: str = Field(default="82", description=(
        "Sender's province, GSO code (82: Đồng Tháp)."))
    ward_code: str = Field(default="30226", description=(
        "Sender's ward, GSO code (30226: Xã Lai Vung)."))
    # a DispatchMode value (auto: post at once; desk: wait for staff to call the courier);
    # kept a str: an unknown value has always meant "not auto", never a refusal to start
    dispatch: str = Field(default=DispatchMode.AUTO, description=(
        "`auto`: post the order as soon as the hand-off arrives; `desk`: wait for staff to call "
        "the courier."))
    # SLA overrides (checked when imported). An agency's own post-office account is never
    # set here: its keys must not sit in the environment (`handoff agency update CODE
    # --route B --customer-code C --credentials-stdin`).
    sla: dict[str, float] | None = Field(default=None, description=(
        "SLA limits of this agency's hand-offs instead of the settings', e.g. "
        "`{\"deliver_within_days\": 3}` (accept_within_minutes, pickup_within_hours, "
        "deliver_within_days, silent_hours)."))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HANDOFF_", env_file=None, extra="ignore")

    # Where things live. Empty URLs mean: the embedded default under `home`.
    home: Path = Field(default=DEFAULT_HOME, description=(
        "Folder of the embedded database, the embedded broker, beat's schedule and the carrier "
        "token files (`tokens/`)."))
    database_url: str = Field(default="", description=(
        "SQLAlchemy database URL, e.g. `postgresql+psycopg://user:pw@host/db`; empty: SQLite at "
        "`<home>/handoff.db`."))
    broker_url: str = Field(default="", description=(
        "Celery broker URL, e.g. `redis://redis:6379/0`; empty: the embedded SQLite broker at "
        "`<home>/broker.db`."))

    # Carrier (VNPost N-GSP)
    carrier_base_url: str = Field(default="http://127.0.0.1:8701/", description=(
        "Route A: the national VNPost N-GSP gateway (the default is the local simulator)."))
    carrier_customer_key: str = Field(default="demo-key", description=(
        "OAuth2 client key of the deployment's default account, issued by Vietnam Post; agencies "
        "without an account of their own post through it, on route A."))
    carrier_secret_key: SecretStr = Field(default=SecretStr("demo-secret"), description=(
        "That account's secret key, issued by Vietnam Post and taken as issued (at least 16 "
        "bytes)."))
    carrier_customer_code: str = Field(default="C0001", description=(
        "That account's customer (contract) code at the post office."))
    carrier_timeout_seconds: float = Field(default=10.0, description=(
        "Timeout of one carrier HTTP request, in seconds."))
    carrier_page_size: int = Field(default=1000, ge=1, le=1000, description=(
        "Items per page of the carrier's tracking feed."))
    # The account above is the deployment's default one: agencies with no account of their
    # own (`handoff agency add` without credentials) post through it on route A.
    carrier_quota_per_second: float = Field(default=20.0, gt=0, le=10_000, description=(
        "Requests per second one post-office account may send, all processes together; an "
        "agency's own account may set its own (`handoff agency update CODE --quota N`)."))
    carrier_quota_max_wait_seconds: float = Field(default=30.0, gt=0, description=(
        "A request that would wait longer than this for the quota is retried later by the ledger "
        "instead of holding a worker."))
    # Extra slack added to the one-second window, so that requests sent exactly one window
    # apart cannot land in the same second at the post office after network jitter. 0.2 s
    # until the limiter caught up on unused slots (worker/domain/quota.py): the quota's use
    # is at most 1 / (1 + margin), 0.83 with 0.2, 0.95 with 0.05; benchmark 1 (200/s, 50 ms)
    # at 0.05 met no 429 and never more than 200 in a second at the post office.
    carrier_quota_margin_seconds: float = Field(default=0.05, ge=0, le=1.0, description=(
        "Slack added to the quota's one-second window against network and scheduling jitter; "
        "raise it if the post office still answers 429."))

    # Route B: the province's LGSP (one per province; each agency's account logs in to it)
    lgsp_token_url: str = Field(default="http://127.0.0.1:8703/token", description=(
        "Route B: the province's LGSP login (token) URL (the default is the simulator serving "
        "route B alone)."))
    lgsp_base_url: str = Field(default="http://127.0.0.1:8703/lgsp", description=(
        "Route B: the LGSP's service gateway; each call names its service with `?service=`."))
    lgsp_service_post: str = Field(default="vnpost.order.post", description=(
        "The LGSP's service name of the post office's order post."))
    lgsp_service_tracking: str = Field(default="vnpost.order.tracking", description=(
        "The LGSP's service name of the tracking feed."))
    lgsp_service_cancel: str = Field(default="vnpost.order.cancel", description=(
        "The LGSP's service name of an order cancel."))

    # Key(s) that encrypt the agencies' post-office credentials in the database (Fernet,
    # 32 url-safe base64 bytes; `handoff secrets` prints one). Several, comma-separated:
    # the first encrypts, all decrypt (a key rotation: see `handoff agency rotate-key`).
    credentials_key: SecretStr = Field(
        default=SecretStr("ZGVtby1jcmVkZW50aWFscy1rZXktMzItYnl0ZXMhIT0="),
        description="Fernet key(s), comma-separated, that encrypt the agencies' post-office "
        "credentials in the database: the first encrypts, all decrypt (rotation: `handoff agency "
        "rotate-key`); `handoff secrets` prints one.")

    # One-stop system
    onestop_base_url: str = Field(default="http://127.0.0.1:8702/", description=(
        "Base URL of the one-stop system's API (the default is the local simulator)."))
    onestop_api_key: SecretStr = Field(default=SecretStr("demo-onestop-key"), description=(
        "Bearer key of the one-stop API, issued by its operator and taken as issued (at least 16 "
        "bytes)."))
    onestop_timeout_seconds: float = Field(default=10.0, description=(
        "Timeout of one one-stop HTTP request, in seconds."))
    onestop_page_size: int = Field(default=500, ge=1, le=500, description=(
        "Items per page of the one-stop hand-off feed."))

    # Inbound webhooks (Standard Webhooks secret, "whsec_..." base64)
    webhook_secret: SecretStr = Field(
        default=SecretStr("whsec_ZGVtby13ZWJob29rLXNlY3JldC0zMmJ5dGVzISE="),
        description="Standard Webhooks secret (`whsec_` + base64 of at least 24 bytes) shared "
        "with the one-stop system: signs `POST /hooks/onestop`.")

    # Agencies for a FRESH database only (`handoff migrate` imports them once; from then on
    # the agencies table is the truth: `handoff agency ...`). JSON {agency_code: {...}}.
    # `default_agency` is the sender block given to agencies an older database had served
    # without an entry here (the upgrade keeps them going).
    agencies: dict[str, AgencyConfig] = Field(default_factory=dict, description=(
        "Agencies for a fresh database only, JSON `{agency code: entry}` (fields below): "
        "`handoff migrate` imports them once; from then on the agencies table is the truth "
        "(`handoff agency …`, the ops page \"Đơn vị\")."))
    default_agency: AgencyConfig = Field(default_factory=AgencyConfig, description=(
        "Used once, when an older database is first upgraded to agencies in the database: the "
        "sender block given to the agencies it served without an entry in `HANDOFF_AGENCIES`."))

    # Schedules (seconds)
    poll_onestop_every: float = Field(default=30.0, description=(
        "Seconds between beat's polls of the one-stop hand-off feed."))
    poll_carrier_every: float = Field(default=60.0, description=(
        "Seconds between beat's polls of the carrier's tracking feed (each account's)."))
    sweep_every: float = Field(default=15.0, description=(
        "Seconds between ledger sweeps, which ring every due row again."))
    redispatch_after: float = Field(default=60.0, description=(
        "Seconds after which a rung ledger row not yet done is rung again."))

    # Retries of ledger rows
    max_attempts: int = Field(default=12, description=(
        "Tries of a ledger row; then the row is dead (and the hand-off needs attention)."))
    backoff_base_seconds: float = Field(default=5.0, description=(
        "First retry delay of a ledger row, in seconds (exponential backoff with jitter)."))
    backoff_max_seconds: float = Field(default=3600.0, description=(
        "Longest retry delay of a ledger row, in seconds."))

    # Leases for work that must not run twice at once
    lease_seconds: float = Field(default=120.0, description=(
        "Seconds a lease on work that must not run twice at once lasts (feed polls, the sweep, "
        "the SLA check); also a claimed ledger row's lock."))

    # Health (`handoff check`): fail when no worker consumed, or a feed was not read, lately
    check_max_idle_seconds: float = Field(default=300.0, description=(
        "`handoff check` fails when no worker consumed work for longer than this, in seconds."))
    check_feed_stale_seconds: float = Field(default=900.0, description=(
        "`handoff check` fails when a feed cursor was not read for longer than this, in seconds."))

    # Celery
    visibility_timeout: int = Field(default=3600, description=(
        "Redis visibility timeout in seconds; longer than any task."))
    task_time_limit: int = Field(default=300, description=(
        "Hard time limit of one task in seconds (the soft limit is 30 s less). The feed "
        "polls have their own: 90 s soft, 120 s hard (a poll stops itself at 60 s)."))
    worker_concurrency: int = Field(default=2, description=(
        "Pool processes per worker (scale out by running more workers)."))
    job_batch: int = Field(default=64, ge=1, le=500, description=(
        "Ledger rows per bell message: a pool process takes them together, claimed in one "
        "transaction and settled as their answers come, those in hand in one transaction "
        "(1: one message and one task per row). bench/RESULTS.md (the runs behind the "
        "defaults): 64 against 16 on 10 threads, 1.28-1.35 x the hand-offs a second with a "
        "post office answering at once, 1.44 x when it takes 50 ms; 128 no more than 64."))
    job_threads: int = Field(default=10, ge=1, le=10, description=(
        "Rows of one bell message a pool process runs at once, each call to the post office "
        "or the one-stop on a thread of its own (1: one after another). More threads only "
        "hide the other side's latency: the rows' own work holds the process's one "
        "interpreter lock (bench/RESULTS.md, the runs behind the defaults: 10 against 4 on "
        "16 rows, 1.5 x the orders a second with a post office answering in 50 ms, the same "
        "when it answers at once). At most 10 (a "
        "process's database pool holds 12: one for each thread, one for the batch's own "
        "transactions, one for the settler's); PostgreSQL sees up to two more connections "
        "than this per pool process."))

    # Web
    web_host: str = Field(default="127.0.0.1", description=(
        "Address `handoff web` listens on (compose passes `--host 0.0.0.0`)."))
    web_port: int = Field(default=8700, description="Port `handoff web` listens on.")
    session_secret: SecretStr = Field(
        default=SecretStr("demo-session-secret-change-me"),
        description="Signs the pages' session cookie and the login form's token; `handoff "
        "secrets` prints one.")
    session_max_age_seconds: int = Field(default=8 * 3600, description=(
        "Seconds a login lasts (a desk shift)."))
    # None: Secure cookie everywhere but the embedded default (see `cookie_secure`); true or
    # false forces it (false only for a plain-HTTP staging run on localhost).
    session_https_only: bool | None = Field(default=None, description=(
        "Send the session cookie over HTTPS only (Secure; also turns on "
        "Strict-Transport-Security). Empty: on everywhere but the embedded default; `false` only "
        "for a plain-HTTP staging run on localhost."))
    # The carrier push hook's wrong signatures, counted per 15 minutes (all web processes
    # together), answered 429 past: `pair` for one agency code from one client address;
    # `address` from one address whatever the code (far higher: the carrier pushes for
    # every agency from the same addresses); past `agency` for one code from everywhere, a
    # client is still let through while its own network (/24, /48) has fewer than `network`
    # failures for that agency, so strangers failing elsewhere never hold up the carrier.
    push_throttle_pair: int = Field(default=20, ge=1, description=(
        "Wrong signatures at the carrier push hook (`POST /hooks/carrier/{agency}`) for one "
        "agency code from one client address in 15 minutes; past it, that agency's pushes from "
        "that address are answered 429 (other agencies' pushes from there go on)."))
    push_throttle_address: int = Field(default=1000, ge=1, description=(
        "Wrong push signatures from one client address, whatever the agency code, in 15 minutes; "
        "past it, that address is answered 429 for every code. Keep it above PAIR times the "
        "codes that may fail at once: the carrier pushes for every agency from the same "
        "addresses."))
    push_throttle_agency: int = Field(default=100, ge=1, description=(
        "Wrong push signatures for one agency code from everywhere in 15 minutes; past it, each "
        "network (/24, /48) still gets NETWORK tries."))
    push_throttle_network: int = Field(default=3, ge=1, description=(
        "Wrong push signatures per network for one agency in 15 minutes, once past the agency's "
        "limit."))
    # /metrics: a scraper sends `Authorization: Bearer <metrics_token>`. Unset, /metrics is
    # off (404) everywhere but the embedded default, where it stays open for the demo.
    metrics_token: SecretStr | None = Field(default=None, description=(
        "Bearer token a Prometheus scraper sends for `/metrics` (at least 32 bytes). Empty: "
        "`/metrics` answers 404 everywhere but the embedded default."))
    # The metrics body is computed at most once per this many seconds, whatever the request
    # rate (set it to the scrape interval); 0 computes it for every request.
    metrics_cache_seconds: float = Field(default=15.0, ge=0, le=3600, description=(
        "`/metrics` is computed at most once per this many seconds, whatever the request rate "
        "(set it to the scrape interval; 0: for every request)."))
    # The CSV export of the ops list stops after this many hand-offs, with a last line
    # saying so (a narrower filter gets the rest); one export at a time per person.
    csv_max_rows: int = Field(default=100_000, ge=1, le=1_000_000, description=(
        "Most hand-offs one CSV export of the ops list holds; past it the file's last line says "
        "it was cut."))

    # SLA: when a hand-off counts as late or stuck (deadlines count from ready_at), how
    # often to check, and where to send one signed notification per hand-off and rule.
    sla_accept_within_minutes: float = Field(default=60.0, gt=0, description=(
        "Late when the carrier has not accepted the order within this many minutes."))
    sla_pickup_within_hours: float = Field(default=24.0, gt=0, description=(
        "Late when the courier has not picked it up within this many hours."))
    sla_deliver_within_days: float = Field(default=5.0, gt=0, description=(
        "Late when not delivered (or otherwise final) within this many days."))
    sla_silent_hours: float = Field(default=72.0, gt=0, description=(
        "Stuck when no event arrived for this many hours while not final."))
    sla_check_every: float = Field(default=60.0, description="Seconds between beat's SLA checks.")
    cod_remit_days: float = Field(default=10.0, gt=0, le=3650, description=(
        "Late (SLA rule cod_not_remitted, and listed first on /ops/cod) when the post office "
        "has not paid a collected fee (COD) to the agency within this many days."))
    cod_collect_grace_days: float = Field(default=2.0, ge=0, le=3650, description=(
        "A delivered hand-off with a fee (COD) is listed on /ops/cod as delivered without "
        "collection only when the carrier has not reported the collection within this many "
        "days of the delivery."))
    notify_url: str = Field(default="", description=(
        "URL that receives one signed POST per hand-off and broken SLA rule; empty: "
        "notifications are off."))
    notify_secret: SecretStr = Field(
        default=SecretStr("whsec_ZGVtby1zbGEtbm90aWZ5LXNlY3JldC0zMmJ5dGVzISE="),
        description="Standard Webhooks secret (`whsec_` + base64 of at least 24 bytes) that "
        "signs those notifications.")

    # Production refuses to start on the demo secrets above; this admits exactly those
    # built-in values (a staging run against the simulators, which accept nothing else).
    # Rules: worker/secrets_check.py.
    allow_demo_secrets: bool = Field(default=False, description=(
        "Let worker, beat and web start on PostgreSQL/Redis with the built-in demo secrets, the "
        "demo sender block and the shipped example accounts, with a warning naming them "
        "(placeholders, empty, short or malformed values are refused even then): a staging run "
        "against the simulators only, never production."))

    @field_validator("session_https_only", "metrics_token", mode="before")
    @classmethod
    def _empty_means_automatic(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'handoff.db').resolve()}"

    def resolved_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        # kombu's SQLAlchemy transport loads only when the embedded broker is in use.
        from worker.embedded_broker import url_for

        return url_for(str((self.home / "broker.db").resolve()))

    @property
    def embedded(self) -> bool:
        """True on the server-less broker (no broadcast: remote control is off)."""
        return not self.broker_url or "sqlite" in self.broker_url

    @property
    def on_embedded_default(self) -> bool:
        """True on the server-less default (SQLite database and broker): demo and dev."""
        return self.embedded and self.resolved_database_url().startswith("sqlite")

    @property
    def cookie_secure(self) -> bool:
        """Send the session cookie over HTTPS only: off the embedded default unless told."""
        if self.session_https_only is not None:
            return self.session_https_only
        return not self.on_embedded_default

    def agency(self, code: str) -> AgencyConfig:
        return self.agencies.get(code, self.default_agency)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Built once per process at start-up, then passed down."""
    return Settings()
