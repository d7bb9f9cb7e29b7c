"""Ops page "Đơn vị" (/ops/agencies): the province's agencies, their sender blocks, routes,
post-office accounts and SLA overrides.

Ops staff add, change, disable and enable agencies. Desk staff may read the list (is my
agency enabled, how many hand-offs wait for it), without account details (customer code,
own or shared account, quota) and without the detail form: answering "why has my dossier
not gone" needs the former, the post-office account is ops' business.

Credentials are write-only here as everywhere: password inputs that are never filled back;
left blank, the stored ones are kept. A refusal names the field next to the form (400);
nothing a person types is ever a 500.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from worker.domain.agency_spec import CREDENTIAL_FIELDS, FIELDS, SLA_FIELDS
from worker.domain.enums import DISPATCH_MODE_VI, DispatchMode, Role
from worker.domain.errors import InvalidInput
from worker.domain.moments import local
from worker.domain.routes import DEFAULT_ROUTE, ROUTES
from worker.domain.routes import label as route_label
from worker.domain.text import clean_text, safe_display
from worker.service.admin import agency_admin
from worker.service.agencies.vault import VaultError
from worker.service.runtime import Runtime
from worker.service.views import agency_views
from worker.web.guards import login_required
from worker.web.render import render
from worker.web.session import check_csrf
from worker.web.units import reading, writing

log = logging.getLogger(__name__)

BASE = "/ops/agencies"
MAX_CODE = 40  # the agencies' column (worker/domain/agency_spec.py)
FIELD_VI = {
    "code": "Mã đơn vị", "name": "Tên đơn vị (người gửi)", "tel": "Số điện thoại",
    "email": "Email", "address": "Địa chỉ", "province_code": "Mã tỉnh/thành (GSO)",
    "ward_code": "Mã xã/phường (GSO)", "dispatch": "Cách gọi bưu tá", "route": "Tuyến",
    "customer_code": "Mã khách hàng", "customer_key": "Khóa khách hàng (customer_key)",
    "secret_key": "Mật khẩu tài khoản (secret_key)",
    "push_secret": "Khóa ký báo trạng thái (push_secret)",
    "quota_per_second": "Hạn mức (yêu cầu/giây)", "sla": "Giới hạn SLA riêng",
    "enabled": "Hoạt động", "credentials": "thông tin tài khoản",
}
# SLA override -> (label, unit, the setting it overrides)
SLA_VI = {
    "accept_within_minutes": ("Bưu điện nhận đơn trong", "phút", "sla_accept_within_minutes"),
    "pickup_within_hours": ("Bưu tá đến lấy trong", "giờ", "sla_pickup_within_hours"),
    "deliver_within_days": ("Giao đến nơi trong", "ngày", "sla_deliver_within_days"),
    "silent_hours": ("Báo động khi không có tin quá", "giờ", "sla_silent_hours"),
}
_TEXT_FIELDS = ("name", "tel", "email", "address", "province_code", "ward_code", "dispatch",
                "route")


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def _read(request: Request, work: Any, *args: Any) -> Any:
    return await reading(_rt(request), work, *args)


def _one(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


def _raw(form: dict[str, list[str]], code: str, *, adding: bool) -> dict[str, Any]:
    """The description a form gives. Blank credentials, customer code and quota are left
    out (kept as stored); the SLA overrides are the non-blank ones (a blank one is gone)."""
    raw: dict[str, Any] = {"code": code, **{k: _one(form, k) for k in _TEXT_FIELDS}}
    for name in ("customer_code", "quota_per_second", *CREDENTIAL_FIELDS):
        value = _one(form, name)
        if value.strip():
            raw[name] = value
    raw["sla"] = {k: _one(form, f"sla_{k}").strip() for k in SLA_FIELDS
                  if _one(form, f"sla_{k}").strip()}
    if adding:
        raw["enabled"] = bool(form.get("enabled"))
    return raw


def _form_field(field: str | None) -> str:
    """The form input an InvalidInput's field names: "agency.wardCode" -> "ward_code",
    "sla.silent_hours" -> "sla_silent_hours", "tel" -> "tel"."""
    field = field or ""
    if field.startswith("sla."):
        return "sla_" + field[4:]
    last = field.rsplit(".", 1)[-1]
    return {"provinceCode": "province_code", "wardCode": "ward_code"}.get(last, last)


def _values(found: dict[str, Any] | None, form: dict[str, list[str]] | None = None
            ) -> dict[str, Any]:
    """What the form's inputs show: the stored agency, or what was sent (never a
    credential: those inputs are always empty)."""
    v: dict[str, Any] = {"code": "", "name": "", "tel": "", "email": "", "address": "",
                         "province_code": "", "ward_code": "", "dispatch": DispatchMode.AUTO,
                         "route": DEFAULT_ROUTE, "customer_code": "", "quota": "",
                         "sla": {}, "enabled": True}
    if found is not None:
        v.update({k: found[k] for k in ("code", *_TEXT_FIELDS, "customer_code", "enabled")})
        v["quota"] = f"{found['quota_per_second']:g}" if found["quota_per_second"] else ""
        v["sla"] = {k: f"{n:g}" for k, n in found["sla"].items()}
    if form is not None:
        v.update({k: _one(form, k) for k in (*_TEXT_FIELDS, "customer_code")})
        v["quota"] = _one(form, "quota_per_second")
        v["sla"] = {k: _one(form, f"sla_{k}") for k in SLA_FIELDS}
        if "code" in form:
            v["code"] = _one(form, "code")
        if found is None:
            v["enabled"] = bool(form.get("enabled"))
    return v


def _form_page(request: Request, *, adding: bool, found: dict[str, Any] | None,
               values: dict[str, Any], error: InvalidInput | None = None, note: str = "",
               note_error: bool = False, status_code: int = 200) -> Response:
    s = _rt(request).settings
    bad = _form_field(error.field) if error is not None else ""
    label = FIELD_VI.get(bad) or (SLA_VI[bad[4:]][0] if bad[4:] in SLA_VI else bad)
    return render(request, "agencies_form.html", {
        "adding": adding, "a": found, "v": values, "bad": bad, "bad_label": label,
        "error": error.reason if error is not None else "", "note": note,
        "note_error": note_error,
        "labels": FIELD_VI, "routes": _route_options(values["route"]),
        "own_account_letters": ", ".join(r.letter for r in ROUTES.values() if r.own_account),
        "default_letter": ROUTES[DEFAULT_ROUTE].letter, "modes": DISPATCH_MODE_VI,
        "sla_rows": [(k, lbl, unit, f"{getattr(s, setting):g}")
                     for k, (lbl, unit, setting) in SLA_VI.items()],
        "shared_quota": f"{s.carrier_quota_per_second:g}", "base": BASE,
        "updated": _when(found["updated_at"]) if found is not None else "",
    }, status_code=status_code)


def _route_options(shown: str) -> dict[str, str]:
    """The route select's options; a stored value no route has is one of them, named
    unknown, so that saving the form refuses it instead of silently sending route A."""
    options = {str(r): spec.label for r, spec in ROUTES.items()}
    return options if not shown or shown in options else {**options, shown: route_label(shown)}


def _when(iso: str) -> str:
    """A stored ISO moment as the pages show times (+07:00, to the minute)."""
    try:
        return local(datetime.fromisoformat(iso))[:16] if iso else "—"
    except ValueError:
        return "—"


def _list_ctx(s: Session) -> dict[str, Any]:
    return {"rows": agency_views.listing(s), "missing": agency_views.waiting_for_missing(s)}


@login_required(Role.OPS, Role.DESK)
async def agency_list(request: Request) -> Response:
    ctx = await _read(request, _list_ctx)
    return render(request, "agencies.html", {
        **ctx, "can_edit": request.state.user.role == Role.OPS, "base": BASE,
        "modes": DISPATCH_MODE_VI})


@login_required(Role.OPS)
async def new_form(request: Request) -> Response:
    values = _values(None)
    values["code"] = request.query_params.get("code", "")[:40]  # from "waiting for" links
    return _form_page(request, adding=True, found=None, values=values)


def _not_found(request: Request) -> Response:
    return render(request, "error.html", {"message": "Không có đơn vị này."},
                  status_code=404)


def _known_code(value: str) -> str | None:
    """The agency code a query or form names, cleaned as stored codes are; None when it
    cannot name an agency (blank, NUL or other control characters, over 40 characters):
    such a value never reaches the database, whose driver may refuse it (PostgreSQL
    refuses NUL) — it is simply no agency (404)."""
    try:
        return clean_text(value, "code", max_len=MAX_CODE, required=True) or None
    except InvalidInput:
        return None


_DONE_VI = {"added": "Đã thêm đơn vị.", "updated": "Đã lưu: {changed}.",
            "same": "Không có gì thay đổi.", "enabled": "Đã bật đơn vị.",
            "disabled": "Đã tắt đơn vị: hồ sơ mới của đơn vị sẽ chờ (cần xử lý) đến khi bật "
                        "lại; đơn đang đi vẫn được theo dõi."}


def _done_note(q: Any) -> str:
    """The message after a change (from the redirect's query: only known words shown)."""
    done = _DONE_VI.get(q.get("done", ""), "")
    if not done:
        return ""
    changed = [FIELD_VI.get(c, "") for c in q.get("changed", "").split(",")]
    done = done.format(changed=", ".join(c for c in changed if c) or "không có gì")
    taken = q.get("taken", "")
    if taken.isascii() and taken.isdigit() and int(taken[:9]):
        done += f" {int(taken[:9])} hồ sơ đang chờ đơn vị này được xử lý tiếp."
    return done


@login_required(Role.OPS)
async def edit_form(request: Request) -> Response:
    code = _known_code(request.query_params.get("code", ""))
    found = None if code is None else await _read(request, agency_views.detail, code)
    if found is None:
        return _not_found(request)
    return _form_page(request, adding=False, found=found, values=_values(found),
                      note=_done_note(request.query_params))


def _after(code: str, done: str, saved: agency_admin.Saved) -> RedirectResponse:
    query = {"code": code, "done": done, "taken": str(saved.taken_up)}
    if saved.changed:
        query["changed"] = ",".join(c for c in saved.changed if c in FIELDS or
                                    c == "credentials")
    return RedirectResponse(f"{BASE}/edit?{urlencode(query)}", 303)


async def _write(request: Request, work: Any) -> agency_admin.Saved:
    rt = _rt(request)
    saved: agency_admin.Saved = await writing(rt, work, rt.settings)  # takes-up are rung
    return saved


VAULT_VI = ("Không mở được khóa mã hóa thông tin tài khoản (HANDOFF_CREDENTIALS_KEY chưa "
            "đặt đúng, hoặc thiếu khóa cũ). Chưa lưu gì; báo quản trị hệ thống.")


async def _save(request: Request, *, adding: bool) -> Response:
    form = await check_csrf(request)
    code = _one(form, "code")
    known = _known_code(code)
    if not adding and known is None:  # no agency to change: never looked up
        return _not_found(request)
    raw = _raw(form, code, adding=adding)
    actor = request.state.user.username
    try:
        try:
            saved = await _write(request, lambda s, settings: agency_admin.save(
                s, settings, raw, actor, adding=adding))
        except IntegrityError:  # the same code added at the same moment elsewhere
            raise InvalidInput("đơn vị này vừa được thêm ở nơi khác; tải lại danh sách",
                               field="code", code="agency.exists") from None
    except (InvalidInput, VaultError) as err:
        found = None if adding else await _read(request, agency_views.detail, known)
        if not adding and found is None:
            return _not_found(request)
        if isinstance(err, VaultError):
            log.error("agency %s: %s", safe_display(code, MAX_CODE), err)
            return _form_page(request, adding=adding, found=found,
                              values=_values(found, form), note=VAULT_VI, note_error=True,
                              status_code=503)
        return _form_page(request, adding=adding, found=found, values=_values(found, form),
                          error=err, status_code=400)
    log.info("agency %s %s by %s (fields: %s)", saved.code,
             "added" if saved.added else "updated", actor, ", ".join(saved.changed) or "-")
    return _after(saved.code, "added" if saved.added else "updated" if saved.changed
                  else "same", saved)


@login_required(Role.OPS)
async def add(request: Request) -> Response:
    return await _save(request, adding=True)


@login_required(Role.OPS)
async def update(request: Request) -> Response:
    return await _save(request, adding=False)


@login_required(Role.OPS)
async def set_enabled(request: Request) -> Response:
    form = await check_csrf(request)
    code, enabled = _known_code(_one(form, "code")), _one(form, "enabled") == "1"
    if code is None:
        return _not_found(request)
    actor = request.state.user.username
    try:
        saved = await _write(request, lambda s, _: agency_admin.set_enabled(
            s, code, enabled, actor))
    except InvalidInput:
        return _not_found(request)
    log.info("agency %s %s by %s", saved.code, "enabled" if enabled else "disabled", actor)
    return _after(saved.code, "enabled" if enabled else "disabled", saved)


routes = [
    Route(BASE, agency_list),
    Route(f"{BASE}/new", new_form),
    Route(f"{BASE}/new", add, methods=["POST"]),
    Route(f"{BASE}/edit", edit_form),
    Route(f"{BASE}/edit", update, methods=["POST"]),
    Route(f"{BASE}/enabled", set_enabled, methods=["POST"]),
]
