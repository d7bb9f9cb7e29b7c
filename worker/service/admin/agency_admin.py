"""Changing the agencies: add, update, disable/enable, import a file, re-encrypt the
credentials under a new key, seed a fresh database from HANDOFF_AGENCIES, and take up the
hand-offs that waited for an agency.

Credentials are write-only: given here, sealed at once (vault.py), never returned. Every
function works in the caller's session; run it in `uow.begin(rt)` so the posts it queues
are rung after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.db.models import (
    Agency,
    AgencySetting,
    DeploymentMark,
    Handoff,
    utcnow,
)
from worker.db.schema_state import AGENCIES_SEEDED
from worker.domain.agency_spec import CREDENTIAL_FIELDS, check_account, clean_spec
from worker.domain.enums import DispatchMode, Route
from worker.domain.errors import InvalidInput
from worker.domain.statuses import FINAL
from worker.service.agencies import record_of
from worker.service.agencies.agency_secrets import MIN_PUSH_SECRET_CHARS, agency_credential_problem
from worker.service.agencies.key_guard import note_rotated, note_sealed, require_key
from worker.service.agencies.vault import Credentials, open_sealed, rotate, seal
from worker.service.flow.waiting import take_up_waiting
from worker.settings import Settings

log = logging.getLogger(__name__)

SEEDED = AGENCIES_SEEDED  # a deployment mark: the fresh-database seed ran once
# row attribute of each spec field that is stored as is
_COLUMNS = {"name": "name", "tel": "sender_tel", "email": "sender_email",
            "address": "sender_address", "province_code": "province_code",
            "ward_code": "ward_code", "dispatch": "dispatch", "route": "route",
            "customer_code": "customer_code", "quota_per_second": "quota_per_second",
            "sla": "sla", "enabled": "enabled"}
MAX_IMPORT_ENTRIES = 5_000  # a province has a few hundred agencies
# agency_secrets.agency_credential_problem's codes, told to the operator
_WEAK = {"public": "là giá trị công khai (tệp ví dụ đi kèm phần mềm, hoặc giá trị demo)",
         "placeholder": "có 'change-me' hoặc 'demo': giá trị giữ chỗ, không phải khóa thật",
         "short": f"ngắn quá: cần ít nhất {MIN_PUSH_SECRET_CHARS} ký tự",
         "low_entropy": "ít ngẫu nhiên quá (ít ký tự khác nhau, hoặc lặp lại một mẫu)"}


@dataclass
class Saved:
    """What a change did: the agency, whether it is new, the fields changed (names only,
    credentials as "credentials"), and the hand-offs taken up again."""

    code: str
    added: bool = False
    changed: list[str] = field(default_factory=list)
    taken_up: int = 0


def save(session: Session, settings: Settings, raw: Mapping[str, Any], actor: str, *,
         adding: bool | None = None) -> Saved:
    """Add the agency (`adding` True), update it (False) or either (None: an import).
    InvalidInput names the field; nothing is stored then."""
    code = clean_spec({"code": raw.get("code")}, adding=False).get("code", "")
    row = session.get(Agency, code) if code else None
    if adding is True and row is not None:
        raise InvalidInput(f"đơn vị {code} đã có; dùng `handoff agency update`", field="code",
                           code="agency.exists")
    if adding is False and row is None:
        raise InvalidInput(f"không có đơn vị {code}", field="code", code="agency.unknown")
    spec = clean_spec(raw, adding=row is None)
    for name in CREDENTIAL_FIELDS:
        weak = agency_credential_problem(settings, name, spec.get(name) or "")
        if weak:
            raise InvalidInput(f"{_WEAK[weak[0]]}; ngoài cấu hình mặc định nhúng (SQLite) "
                               "chỉ nhận khóa thật, do bưu điện cấp hoặc tạo ngẫu nhiên",
                               field=name, code=f"agency.{weak[0]}_secret")
    result = Saved(code=spec["code"], added=row is None)
    if row is None:
        row = Agency(code=spec["code"], created_at=utcnow(), enabled=spec.get("enabled", True))
        session.add(row)
    with session.no_autoflush:  # a new row is not whole yet (its name comes below)
        _merge_account(session, settings, row, spec)
    for name, column in _COLUMNS.items():
        if name in spec and getattr(row, column) != spec[name]:
            setattr(row, column, spec[name])
            result.changed.append(name)
    if any(spec.get(name) for name in CREDENTIAL_FIELDS):
        result.changed.append("credentials")
    if "quota_per_second" in result.changed:
        _sync_quota(session, row)
    row.updated_at, row.updated_by = utcnow(), (actor or "")[:80]
    session.flush()
    if row.enabled:
        result.taken_up = take_up_waiting(session, row.code)
    return result


def _merge_account(session: Session, settings: Settings, row: Agency,
                   spec: dict[str, Any]) -> None:
    """Seal the credentials given (those not given are kept) and check the account.

    Agencies on one route and customer code are ONE account at the post office: one set of
    keys, one quota, one token, one feed. So an agency joining an account takes its keys
    and quota (keys given must be the same ones), and keys or a quota given for an agency
    already on it change them for every agency of the account (the post office rotated the
    secret, or raised the quota). The deployment's default account is not an agency's own
    (leave the customer code empty to use it). An agency with orders still on their way
    keeps its account: they are tracked and cancelled through it.
    """
    require_key(session, settings)  # a wrong key refused before it opens or seals
    old = open_sealed(settings, row.credentials) if row.credentials else Credentials("", "")
    given = {name: spec.get(name) for name in CREDENTIAL_FIELDS}
    route = spec.get("route", row.route)
    customer_code = spec.get("customer_code", row.customer_code) or None
    moving = (route, customer_code) != (row.route, row.customer_code or None)
    if moving and row.created_at is not None and _orders_on_their_way(session, row.code):
        raise InvalidInput(
            "đơn vị còn đơn đang được bưu điện chuyển theo tài khoản hiện tại; chỉ đổi tuyến "
            "hoặc mã khách hàng khi các đơn đó đã xong (hoặc thêm đơn vị mới)",
            field="customer_code" if "customer_code" in spec else "route",
            code="agency.orders_in_flight")
    if not customer_code:
        check_account({"route": route, "customer_code": None})  # route B needs its own
        if given.get("push_secret") or given.get("customer_key") or given.get("secret_key"):
            raise InvalidInput("đơn vị dùng tài khoản chung của hệ thống (không có mã khách "
                               "hàng riêng) thì không đặt khóa riêng", field="customer_code",
                               code="agency.account_incomplete")
        row.credentials = None
        return
    if route == Route.NGSP and customer_code == settings.carrier_customer_code:
        raise InvalidInput("mã khách hàng này là tài khoản chung của hệ thống "
                           "(HANDOFF_CARRIER_CUSTOMER_CODE); để trống mã khách hàng để dùng nó",
                           field="customer_code", code="agency.default_account")
    others = session.scalars(select(Agency).where(
        Agency.code != row.code, Agency.route == route,
        Agency.customer_code == customer_code, Agency.credentials.is_not(None))).all()
    account = open_sealed(settings, others[0].credentials or "") if others else None
    base = account if (moving or not row.credentials) and account else old
    creds = Credentials(*(given[n] or getattr(base, n) for n in CREDENTIAL_FIELDS))
    check_account({"route": route, "customer_code": customer_code,
                   "customer_key": creds.customer_key, "secret_key": creds.secret_key})
    if account is not None and (moving or not row.credentials) and (
            creds.customer_key, creds.secret_key) != (account.customer_key,
                                                      account.secret_key):
        raise InvalidInput(
            f"mã khách hàng {customer_code} trên tuyến này là tài khoản của đơn vị "
            f"{others[0].code} với khóa khác; cùng một tài khoản phải cùng khóa (đổi khóa "
            f"của tài khoản: `handoff agency update {others[0].code} --credentials-stdin`)",
            field="customer_key", code="agency.account_conflict")
    if others and "quota_per_second" not in spec and (moving or not row.credentials):
        spec["quota_per_second"] = others[0].quota_per_second  # the account's quota
    row.credentials = seal(settings, creds)
    note_sealed(session, settings)
    if others and not moving and row.credentials and any(given.values()):
        for other in others:  # new keys of the account: every agency of it
            other.credentials = row.credentials


def _sync_quota(session: Session, row: Agency) -> None:
    """One quota per account: every agency of `row`'s account takes its quota."""
    if not row.customer_code:
        return
    for other in session.scalars(select(Agency).where(
            Agency.code != row.code, Agency.route == row.route,
            Agency.customer_code == row.customer_code)):
        other.quota_per_second = row.quota_per_second


def _orders_on_their_way(session: Session, code: str) -> bool:
    """Orders of the agency the post office accepted and that are not over yet."""
    return session.scalar(select(func.count()).select_from(Handoff).where(
        Handoff.agency_code == code, Handoff.accepted_at.is_not(None),
        Handoff.status.not_in([st.value for st in FINAL]))) != 0


def set_enabled(session: Session, code: str, enabled: bool, actor: str) -> Saved:
    """Disable (no new courier for it; orders in flight go on being tracked) or enable it
    again (its waiting hand-offs are taken up)."""
    row = session.get(Agency, code) if code else None
    if row is None:
        raise InvalidInput(f"không có đơn vị {code[:40]}", field="code", code="agency.unknown")
    result = Saved(code=row.code)
    if row.enabled != enabled:
        row.enabled, row.updated_at, row.updated_by = enabled, utcnow(), (actor or "")[:80]
        result.changed.append("enabled")
    session.flush()
    if enabled:
        result.taken_up = take_up_waiting(session, row.code)
    return result


def rotate_key(session: Session, settings: Settings) -> int:
    """Re-encrypt every agency's credentials under the first key of HANDOFF_CREDENTIALS_KEY
    (the others must still be listed, so that running processes with the old list keep
    reading both). Returns how many rows were re-encrypted."""
    require_key(session, settings)
    rows = session.scalars(select(Agency).where(Agency.credentials.is_not(None))
                           .with_for_update()).all()
    for row in rows:
        row.credentials = rotate(settings, row.credentials or "")
    session.flush()
    note_rotated(session, settings, len(rows))
    return len(rows)


def import_agencies(session: Session, settings: Settings, data: object, actor: str
                    ) -> list[Saved]:
    """Add or update every agency of `data`: HANDOFF_AGENCIES's shape ({code: {...}}) or a
    list of objects with "code". All or nothing: the first bad entry raises InvalidInput
    (its field prefixed with the agency) and the caller rolls back."""
    entries = _entries(data)
    if len(entries) > MAX_IMPORT_ENTRIES:
        raise InvalidInput(f"có {len(entries)} đơn vị; mỗi lần nhập tối đa "
                           f"{MAX_IMPORT_ENTRIES}", field="", code="agency.too_many")
    results = []
    for n, entry in enumerate(entries, 1):
        try:
            results.append(save(session, settings, entry, actor))
        except InvalidInput as err:
            where = entry.get("code") if isinstance(entry.get("code"), str) else f"#{n}"
            raise InvalidInput(err.reason, field=f"{str(where)[:40]}.{err.field or ''}",
                               code=err.code) from None
    return results


def _entries(data: object) -> list[dict[str, Any]]:
    if isinstance(data, Mapping):
        out = []
        for code, body in data.items():
            if not isinstance(body, Mapping):
                raise InvalidInput("mỗi đơn vị phải là một object", field=str(code)[:40],
                                   code="agency.type")
            out.append({**body, "code": code})
        return out
    if isinstance(data, list) and all(isinstance(e, Mapping) for e in data):
        return [dict(e) for e in data]
    raise InvalidInput("phải là object {mã đơn vị: {...}} hoặc danh sách các object có "
                       '"code"', field="", code="agency.type")


def seed_if_fresh(session: Session, settings: Settings) -> list[Saved]:
    """Once per database: HANDOFF_AGENCIES becomes agencies, then every agency an older
    database served (its hand-offs, its settings-page dispatch mode) gets a row with the
    sender block it used (HANDOFF_DEFAULT_AGENCY), so that nothing in flight stops.
    Later runs change nothing: from then on the database is the truth."""
    if session.get(DeploymentMark, SEEDED) is not None:
        return []
    session.add(DeploymentMark(name=SEEDED, at=utcnow()))
    results = []
    if session.scalar(select(func.count()).select_from(Agency)) == 0:
        overrides = {r.agency_code: r.dispatch for r in session.scalars(select(AgencySetting))}
        seen = dict(session.execute(select(Handoff.agency_code, func.max(Handoff.agency_name))
                                    .where(Handoff.agency_code != "")
                                    .group_by(Handoff.agency_code)).all())
        for code in sorted(set(settings.agencies) | set(overrides) | set(seen)):
            cfg = settings.agency(code)
            name = (cfg.name if code in settings.agencies else seen.get(code)) or cfg.name
            dispatch = overrides.get(code, cfg.dispatch)
            results.append(save(session, settings, {
                "code": code, "name": name, "tel": cfg.tel, "email": cfg.email,
                "address": cfg.address, "province_code": cfg.province_code,
                "ward_code": cfg.ward_code, "route": Route.NGSP,
                "dispatch": dispatch if dispatch in list(DispatchMode) else DispatchMode.DESK,
                **({"sla": cfg.sla} if cfg.sla else {}),
            }, "seed", adding=True))
    return results


def describe(row: Agency) -> dict[str, Any]:
    """An agency as shown and exported: never a credential, only whether one is set."""
    rec = record_of(row)
    return {"code": row.code, "name": row.name, "tel": row.sender_tel,
            "email": row.sender_email, "address": row.sender_address,
            "province_code": row.province_code, "ward_code": row.ward_code,
            "dispatch": row.dispatch, "route": rec.route,
            "customer_code": row.customer_code or "", "own_account": rec.own_account,
            "credentials": "đã đặt" if row.credentials else "chưa có (dùng tài khoản chung)",
            "quota_per_second": row.quota_per_second, "sla": dict(rec.sla),
            "enabled": row.enabled, "updated_by": row.updated_by,
            "updated_at": row.updated_at.isoformat() if row.updated_at else ""}
