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

    name: str = "Bộ phận Một cửa"
    tel: str = "02773000000"
    email: str = "motcua@example.gov.vn"
    address: str = "Trung tâm Phục vụ hành chính công"
    province_code: str = "82"  # GSO, Đồng Tháp
    ward_code: str = "30226"  # GSO, Xã Lai Vung
    # a DispatchMode value (auto: post at once; desk: wait for staff to call the courier);
    # kept a str: an unknown value has always meant "not auto", never a refusal to start
    dispatch: str = DispatchMode.AUTO
    # SLA overrides (checked when imported). An agency's own post-office account is never
    # set here: its keys must not sit in the environment (`handoff agency update CODE
    # --route B --customer-code C --credentials-stdin`).
    sla: dict[str, float] | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HANDOFF_", env_file=None, extra="ignore")

    # Where things live. Empty URLs mean: the embedded default under `home`.
    home: Path = DEFAULT_HOME
    database_url: str = ""
    broker_url: str = ""

    # Carrier (VNPost N-GSP)
    carrier_base_url: str = "http://127.0.0.1:8701/"
    carrier_customer_key: str = "demo-key"
    carrier_secret_key: SecretStr = SecretStr("demo-secret")
    carrier_customer_code: str = "C0001"
    carrier_timeout_seconds: float = 10.0
    carrier_page_size: int = Field(default=1000, ge=1, le=1000)
    # The account above is the deployment's default one: agencies with no account of their
    # own (`handoff agency add` without credentials) post through it on route A.
    # Requests per second each account may send (all processes together); an agency's
    # account may set its own. Waits longer than quota_max_wait_seconds become a retry.
    carrier_quota_per_second: float = Field(default=20.0, gt=0, le=10_000)
    carrier_quota_max_wait_seconds: float = Field(default=30.0, gt=0)
    # Extra slack added to the one-second window, so that requests sent exactly one window
    # apart cannot land in the same second at the post office after network jitter.
    carrier_quota_margin_seconds: float = Field(default=0.2, ge=0, le=1.0)

    # Route B: the province's LGSP (one per province; each agency's account logs in to it)
    lgsp_token_url: str = "http://127.0.0.1:8703/token"
    lgsp_base_url: str = "http://127.0.0.1:8703/lgsp"
    lgsp_service_post: str = "vnpost.order.post"
    lgsp_service_tracking: str = "vnpost.order.tracking"
    lgsp_service_cancel: str = "vnpost.order.cancel"

    # Key(s) that encrypt the agencies' post-office credentials in the database (Fernet,
    # 32 url-safe base64 bytes; `handoff secrets` prints one). Several, comma-separated:
    # the first encrypts, all decrypt (a key rotation: see `handoff agency rotate-key`).
    credentials_key: SecretStr = SecretStr("ZGVtby1jcmVkZW50aWFscy1rZXktMzItYnl0ZXMhIT0=")

    # One-stop system
    onestop_base_url: str = "http://127.0.0.1:8702/"
    onestop_api_key: SecretStr = SecretStr("demo-onestop-key")
    onestop_timeout_seconds: float = 10.0
    onestop_page_size: int = Field(default=500, ge=1, le=500)

    # Inbound webhooks (Standard Webhooks secret, "whsec_..." base64)
    webhook_secret: SecretStr = SecretStr("whsec_ZGVtby13ZWJob29rLXNlY3JldC0zMmJ5dGVzISE=")

    # Agencies for a FRESH database only (`handoff migrate` imports them once; from then on
    # the agencies table is the truth: `handoff agency ...`). JSON {agency_code: {...}}.
    # `default_agency` is the sender block given to agencies an older database had served
    # without an entry here (the upgrade keeps them going).
    agencies: dict[str, AgencyConfig] = Field(default_factory=dict)
    default_agency: AgencyConfig = Field(default_factory=AgencyConfig)

    # Schedules (seconds)
    poll_onestop_every: float = 30.0
    poll_carrier_every: float = 60.0
    sweep_every: float = 15.0
    redispatch_after: float = 60.0  # a rung row not done after this is rung again

    # Retries of ledger rows
    max_attempts: int = 12
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 3600.0

    # Leases for work that must not run twice at once
    lease_seconds: float = 120.0

    # Health (`handoff check`): fail when no worker consumed, or a feed was not read, lately
    check_max_idle_seconds: float = 300.0
    check_feed_stale_seconds: float = 900.0

    # Celery
    visibility_timeout: int = 3600
    task_time_limit: int = 300
    worker_concurrency: int = 2

    # Web
    web_host: str = "127.0.0.1"
    web_port: int = 8700
    session_secret: SecretStr = SecretStr("demo-session-secret-change-me")
    session_max_age_seconds: int = 8 * 3600  # a desk shift; then log in again
    # None: Secure cookie everywhere but the embedded default (see `cookie_secure`); true or
    # false forces it (false only for a plain-HTTP staging run on localhost).
    session_https_only: bool | None = None
    # The carrier push hook's wrong signatures, counted per 15 minutes (all web processes
    # together), answered 429 past: `pair` for one agency code from one client address;
    # `address` from one address whatever the code (far higher: the carrier pushes for
    # every agency from the same addresses); past `agency` for one code from everywhere, a
    # client is still let through while its own network (/24, /48) has fewer than `network`
    # failures for that agency, so strangers failing elsewhere never hold up the carrier.
    push_throttle_pair: int = Field(default=20, ge=1)
    push_throttle_address: int = Field(default=1000, ge=1)
    push_throttle_agency: int = Field(default=100, ge=1)
    push_throttle_network: int = Field(default=3, ge=1)
    # /metrics: a scraper sends `Authorization: Bearer <metrics_token>`. Unset, /metrics is
    # off (404) everywhere but the embedded default, where it stays open for the demo.
    metrics_token: SecretStr | None = None
    # The metrics body is computed at most once per this many seconds, whatever the request
    # rate (set it to the scrape interval); 0 computes it for every request.
    metrics_cache_seconds: float = Field(default=15.0, ge=0, le=3600)
    # The CSV export of the ops list stops after this many hand-offs, with a last line
    # saying so (a narrower filter gets the rest); one export at a time per person.
    csv_max_rows: int = Field(default=100_000, ge=1, le=1_000_000)

    # SLA: when a hand-off counts as late or stuck (deadlines count from ready_at), how
    # often to check, and where to send one signed notification per hand-off and rule.
    sla_accept_within_minutes: float = Field(default=60.0, gt=0)
    sla_pickup_within_hours: float = Field(default=24.0, gt=0)
    sla_deliver_within_days: float = Field(default=5.0, gt=0)
    sla_silent_hours: float = Field(default=72.0, gt=0)
    sla_check_every: float = 60.0
    notify_url: str = ""  # empty: notifications are off
    notify_secret: SecretStr = SecretStr("whsec_ZGVtby1zbGEtbm90aWZ5LXNlY3JldC0zMmJ5dGVzISE=")

    # Production refuses to start on the demo secrets above; this admits exactly those
    # built-in values (a staging run against the simulators, which accept nothing else).
    # Rules: worker/secrets_check.py.
    allow_demo_secrets: bool = False

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
