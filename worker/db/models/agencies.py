"""Agencies and their post-office side: settings, the deployment's key mark, quota buckets,
the carrier's area table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from worker.db.clock import utcnow
from worker.db.models.base import Base, UTCDateTime


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


class AgencySetting(Base):
    """An agency's dispatch mode changed on the settings page; it wins over the environment."""

    __tablename__ = "agency_settings"

    agency_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    dispatch: Mapped[str] = mapped_column(String(8))  # auto, desk
    updated_by: Mapped[str] = mapped_column(String(80), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeploymentMark(Base):
    """Things done once per database (e.g. "agencies-seeded": the fresh-database seed from
    HANDOFF_AGENCIES ran), so a later start never does them again."""

    __tablename__ = "deployment_marks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RateBucket(Base):
    """One post-office account's request budget on the embedded default (worker/service/
    quota.py; Redis holds it in production): the last granted slots, a 429's hold, and the
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
    # the last granted slots, newest first, as many as the quota (JSON; migration 0015)
    recent: Mapped[str | None] = mapped_column(Text, nullable=True)


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
