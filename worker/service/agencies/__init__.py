"""The province's agencies as the rest of the worker reads them: who sends, how they
dispatch, which route and post-office account their orders take, their SLA limits.

Agencies live in the `agencies` table (`handoff agency ...`, the ops page "Đơn vị"); writes
are in `service/admin/agency_admin.py`. An agency that is not there, or is disabled, gets no
courier: its hand-offs wait as needs_attention and are taken up again when it is added or
enabled.

The package (this module, so `agencies.get(...)` reads the same everywhere) holds what the
agencies send with: sealed credentials (`vault`, `key_guard`, `agency_secrets`), push keys,
the area table and the quota. Nothing here moves a hand-off, so the runtime and every use
case may build on it; changing agencies takes up waiting hand-offs, so it sits in `admin`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.db.models import Agency
from worker.domain.enums import DispatchMode, Route
from worker.domain.model import Address, CarrierAccount, Contact
from worker.domain.sla_rules import Limits
from worker.service.agencies.vault import VaultError, open_sealed
from worker.settings import Settings

log = logging.getLogger(__name__)
_HELD = "agency_rows"  # session.info: (the transaction, the agency rows it read)

SLA_FIELDS = tuple(f.name for f in fields(Limits))


@dataclass(frozen=True)
class AgencyRecord:
    """One agency, read for use. `account` holds decrypted credentials: keep it in memory,
    never print or store it (its repr hides them)."""

    code: str
    name: str
    sender: Contact
    dispatch: str  # a DispatchMode value
    route: str  # a Route value
    own_account: bool  # False: the deployment's default account (HANDOFF_CARRIER_*)
    enabled: bool
    sla: dict[str, float]  # only the limits this agency overrides

    @property
    def auto(self) -> bool:
        return self.dispatch == DispatchMode.AUTO


def default_account(settings: Settings) -> CarrierAccount:
    """The deployment's own account (HANDOFF_CARRIER_*), on route A."""
    return CarrierAccount(Route.NGSP, settings.carrier_customer_code,
                          settings.carrier_customer_key,
                          settings.carrier_secret_key.get_secret_value(),
                          settings.carrier_quota_per_second)


def account_of_row(settings: Settings, row: Agency) -> CarrierAccount:
    """The account an agency's orders go by; VaultError when its credentials do not open
    (the message never holds them)."""
    if not row.customer_code or not row.credentials:
        return default_account(settings)
    creds = open_sealed(settings, row.credentials)
    return CarrierAccount(row.route, row.customer_code, creds.customer_key, creds.secret_key,
                          row.quota_per_second or settings.carrier_quota_per_second,
                          creds.push_secret)


def record_of(row: Agency) -> AgencyRecord:
    sender = Contact(name=row.name, phone=row.sender_tel, email=row.sender_email or None,
                     address=Address(row.sender_address, row.province_code, row.ward_code))
    sla = {k: float(v) for k, v in (row.sla or {}).items() if k in SLA_FIELDS}
    return AgencyRecord(row.code, row.name, sender, row.dispatch,
                        row.route if row.customer_code else Route.NGSP,
                        bool(row.customer_code and row.credentials), row.enabled, sla)


def row(session: Session, code: str) -> Agency | None:
    """The agency's row, read once per transaction. The session's identity map would give
    it back without a query, but it holds rows weakly: a row looked up, turned into a
    record and dropped was read again for every item of a page (twice: its record and its
    dispatch mode). The transaction keeps the rows it read until it ends."""
    if not code:
        return None
    found = session.get(Agency, code)  # begins the transaction if none had begun yet
    transaction = session.get_transaction()
    if found is None or transaction is None:
        return found
    held: tuple[object, dict[str, Agency]] | None = session.info.get(_HELD)
    if held is None or held[0] is not transaction:  # another transaction's: let them go
        held = session.info[_HELD] = (transaction, {})
    held[1][code] = found
    return found


def get(session: Session, code: str) -> AgencyRecord | None:
    found = row(session, code)
    return record_of(found) if found is not None else None


def account_of(session: Session, settings: Settings, code: str) -> CarrierAccount | None:
    """The account of an agency (enabled or not: its orders in flight still need tracking
    and cancelling); None when the agency is unknown."""
    found = row(session, code)
    return account_of_row(settings, found) if found is not None else None


def accounts(session: Session, settings: Settings) -> list[CarrierAccount]:
    """Every account the deployment reads a tracking feed of: the default one and each
    agency's own (disabled agencies too), one per CarrierAccount.key, in key order. An
    agency whose credentials do not open is left out and logged (never its values)."""
    found = {default_account(settings).key: default_account(settings)}
    rows = session.scalars(select(Agency).where(Agency.customer_code.is_not(None),
                                                Agency.credentials.is_not(None))
                           .order_by(Agency.code))
    for row in rows:
        try:
            account = account_of_row(settings, row)
        except VaultError as err:
            log.error("agency %s: %s", row.code, err)
            continue
        found.setdefault(account.key, account)
    return [found[k] for k in sorted(found)]


def limits_for(base: Limits, record: AgencyRecord | None) -> Limits:
    """The SLA limits of an agency: the settings, with the agency's overrides."""
    if record is None or not record.sla:
        return base
    return Limits(**{**{k: getattr(base, k) for k in SLA_FIELDS}, **record.sla})


def all_records(session: Session) -> list[AgencyRecord]:
    return [record_of(r) for r in session.scalars(select(Agency).order_by(Agency.code))]
