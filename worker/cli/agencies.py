"""`handoff agency add|update|list|show|disable|enable|import|rotate-key`: the province's
agencies, their sender blocks, routes and post-office accounts.

Credentials are write-only. They are read from stdin (a JSON object) or typed at hidden
prompts, never taken as command-line options (shell history, `ps`), and never printed:
`show` and `list` say only whether an agency has them. Every change runs in one unit of
work, so the hand-offs an agency's addition or enabling takes up are posted after commit.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

import click
from sqlalchemy.orm import Session

from worker.cli.agency_bulk import agency_import, agency_rotate_key
from worker.cli.agency_run import do, seed_fresh_database
from worker.cli.common import clean_arg, echo_line, fail
from worker.db.models import Agency
from worker.domain import routes
from worker.domain.agency_spec import CREDENTIAL_FIELDS, SLA_FIELDS
from worker.domain.enums import DISPATCH_MODE_VI
from worker.service.admin import agency_admin
from worker.service.views import agency_views
from worker.settings import Settings

STDIN_MAX = 64_000  # a credentials object is a few hundred bytes
# option name -> field of the agency's description
_OPTION_FIELDS = {"name": "name", "tel": "tel", "email": "email", "address": "address",
                  "province": "province_code", "ward": "ward_code", "dispatch": "dispatch",
                  "route": "route", "customer_code": "customer_code",
                  "quota": "quota_per_second"}
_CREDENTIAL_PROMPTS = {"customer_key": "Khóa khách hàng (customer_key)",
                       "secret_key": "Mật khẩu tài khoản (secret_key)",
                       "push_secret": "Khóa ký báo trạng thái (push_secret)"}


@click.group()
@click.pass_context
def agency(ctx: click.Context) -> None:
    """The province's agencies: sender block, dispatch, route, post-office account."""


def _refuse_argv_secret(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value is not None:
        fail("thông tin tài khoản (khóa, mật khẩu) không bao giờ nhận từ dòng lệnh (lịch sử "
             "shell, danh sách tiến trình): dùng --credentials-stdin với một object JSON "
             '{"customer_key", "secret_key", "push_secret"}, hoặc gõ vào ô nhập ẩn')


def _spec_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options `add` and `update` share; a credential is never one of them."""
    options = [
        click.option("--name", help="tên đơn vị (tên người gửi ở bưu điện)"),
        click.option("--tel", help="số điện thoại người gửi"),
        click.option("--email", help="email người gửi"),
        click.option("--address", help="địa chỉ người gửi"),
        click.option("--province", help="mã tỉnh/thành (GSO) của người gửi"),
        click.option("--ward", help="mã xã/phường (GSO) của người gửi"),
        click.option("--dispatch", metavar="auto|desk", help="gọi bưu tá tự động hay tại bàn"),
        click.option("--route", metavar="|".join(
                         [s.letter for s in routes.ROUTES.values()] + list(routes.ROUTES)),
                     help="; ".join(s.label for s in routes.ROUTES.values())),
        click.option("--customer-code", help="mã khách hàng của tài khoản bưu điện riêng"),
        click.option("--quota", help="hạn mức yêu cầu/giây của tài khoản riêng"),
        click.option("--sla", multiple=True, metavar="NAME=NUMBER",
                     help=f"giới hạn SLA riêng ({', '.join(SLA_FIELDS)}); lặp lại được"),
        click.option("--credentials-stdin", is_flag=True,
                     help='đọc khóa tài khoản từ stdin: {"customer_key": ..., "secret_key": '
                          '..., "push_secret": ...}; ở terminal thì hỏi ẩn từng khóa'),
    ]
    # kept only to refuse them clearly instead of "no such option"
    for name in ("--customer-key", "--secret-key", "--push-secret", "--credentials"):
        options.append(click.option(name, hidden=True, expose_value=False, is_eager=True,
                                    callback=_refuse_argv_secret))
    for option in reversed(options):
        command = option(command)
    return command


def _parse_sla(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            fail(f"sla: mỗi --sla có dạng TÊN=SỐ ({', '.join(SLA_FIELDS)})")
        out[name.strip()] = value.strip()
    return out


def _read_credentials() -> dict[str, str]:
    """The credentials given: hidden prompts at a terminal, else a JSON object on stdin.
    An empty answer keeps the stored value. Nothing read is ever echoed back."""
    if sys.stdin.isatty():
        out = {}
        for name, label in _CREDENTIAL_PROMPTS.items():
            value = str(click.prompt(f"{label} (để trống: giữ nguyên)", hide_input=True,
                                     default="", show_default=False))
            if value:
                out[name] = value
        return out
    text = sys.stdin.read(STDIN_MAX + 1)
    shape = ('một object JSON {"customer_key": ..., "secret_key": ..., "push_secret": ...} '
             "(nội dung không được in lại)")
    if len(text) > STDIN_MAX:
        fail(f"credentials: stdin quá dài; cần {shape}")
    try:
        data = json.loads(text)
    except ValueError:
        fail(f"credentials: stdin không phải JSON hợp lệ; cần {shape}")
    if not isinstance(data, dict):
        fail(f"credentials: cần {shape}")
    unknown = sorted(str(k)[:40] for k in data if k not in CREDENTIAL_FIELDS)
    if unknown:
        fail(f"credentials: trường không có: {', '.join(unknown)[:200]}; chỉ nhận "
             f"{', '.join(CREDENTIAL_FIELDS)}")
    return {k: v for k, v in data.items() if v not in (None, "")}


def _given(options: Mapping[str, Any]) -> dict[str, Any]:
    """The description fields the options set (None: not given)."""
    return {spec: options[opt] for opt, spec in _OPTION_FIELDS.items()
            if options.get(opt) is not None}


def _save(ctx: click.Context, code: str, options: dict[str, Any], *, adding: bool) -> None:
    raw: dict[str, Any] = {"code": code, **_given(options)}
    sla = _parse_sla(options["sla"])
    if options["credentials_stdin"]:
        raw.update(_read_credentials())
    actor = "cli"

    def work(session: Session, settings: Settings) -> agency_admin.Saved:
        row = session.get(Agency, code) if code else None
        if row is not None and not adding:
            # one half of the GSO pair given: the other is the stored one
            if "province_code" in raw and "ward_code" not in raw:
                raw["ward_code"] = row.ward_code
            if "ward_code" in raw and "province_code" not in raw:
                raw["province_code"] = row.province_code
            if sla or options.get("clear_sla"):
                # the limits named change; the other overrides stay unless --clear-sla
                kept = {} if options.get("clear_sla") else dict(row.sla or {})
                raw["sla"] = {**kept, **sla}
        elif sla:
            raw["sla"] = sla
        return agency_admin.save(session, settings, raw, actor, adding=adding)

    saved = do(ctx, work)
    if saved.added:
        click.echo(f"đã thêm đơn vị {saved.code}")
    elif saved.changed:
        click.echo(f"đã cập nhật đơn vị {saved.code}: {', '.join(saved.changed)}")
    else:
        click.echo(f"đơn vị {saved.code}: không có gì thay đổi")
    if saved.taken_up:
        click.echo(f"{saved.taken_up} hồ sơ đang chờ đơn vị này được xử lý tiếp")


@agency.command("add")
@click.argument("code", callback=clean_arg)
@_spec_options
@click.pass_context
def agency_add(ctx: click.Context, code: str | None, **options: Any) -> None:
    """Add an agency (hand-offs that waited for it are taken up)."""
    _save(ctx, code or "", options, adding=True)


@agency.command("update")
@click.argument("code", callback=clean_arg)
@_spec_options
@click.option("--clear-sla", is_flag=True,
              help="bỏ mọi giới hạn SLA riêng (kèm --sla: chỉ giữ những giới hạn đó)")
@click.pass_context
def agency_update(ctx: click.Context, code: str | None, **options: Any) -> None:
    """Change what is given; the rest (credentials included) stays."""
    _save(ctx, code or "", options, adding=False)


def _yes(flag: bool) -> str:
    return "hoạt động" if flag else "ĐÃ TẮT"


def _account(a: Mapping[str, Any]) -> str:
    return f"riêng {a['customer_code']}" if a["own_account"] else "chung"


@agency.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def agency_list(ctx: click.Context, as_json: bool) -> None:
    """Every agency: route, account (own or shared), dispatch, enabled, hand-offs waiting."""
    rows, missing = do(ctx, lambda s, _: (agency_views.listing(s),
                                           agency_views.waiting_for_missing(s)))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("chưa có đơn vị nào (`handoff agency add` hoặc `handoff agency import`)")
    for a in rows:
        echo_line(f"{a['code']:<20} {_yes(a['enabled']):<10} tuyến {routes.letter(a['route'])}  "
                  f"{a['dispatch']:<5} tài khoản {_account(a):<18} chờ {a['waiting']:<5} "
                  f"{a['name']}")
    for code, n in missing.items():
        echo_line(f"{n} hồ sơ chờ đơn vị {code}, chưa có trong danh sách "
                  "(thêm bằng `handoff agency add`)")


@agency.command("show")
@click.argument("code", callback=clean_arg)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def agency_show(ctx: click.Context, code: str | None, as_json: bool) -> None:
    """One agency in full; of its credentials only whether they are set."""
    a, shared = do(ctx, lambda s, settings: (agency_views.detail(s, code or ""),
                                              settings.carrier_quota_per_second))
    if a is None:
        fail(f"code: không có đơn vị {(code or '')[:40]}")
    if as_json:
        click.echo(json.dumps(a, ensure_ascii=False, indent=1))
        return
    sla = ", ".join(f"{k}={v:g}" for k, v in sorted(a["sla"].items()))
    for line in (
        f"đơn vị {a['code']}: {a['name']}",
        f"  trạng thái:        {_yes(a['enabled'])}",
        f"  người gửi:         {a['name']} · {a['tel']} · {a['email'] or '-'}",
        f"                     {a['address']} (tỉnh {a['province_code']}, "
        f"xã/phường {a['ward_code']})",
        f"  gọi bưu tá:        {DISPATCH_MODE_VI.get(a['dispatch'], a['dispatch'])}",
        f"  tuyến:             {a['route_label']}",
        f"  mã khách hàng:     {a['customer_code'] or '- (tài khoản chung của triển khai)'}",
        f"  khóa tài khoản:    {a['credentials']}",
        "  hạn mức:           " + (f"{a['quota_per_second']:g} yêu cầu/giây"
                                   if a["quota_per_second"] and a["own_account"]
                                   else f"theo cấu hình chung ({shared:g} yêu cầu/giây)"),
        f"  SLA riêng:         {sla or 'không (theo cấu hình chung)'}",
        f"  hồ sơ chờ đơn vị:  {a['waiting']}",
        f"  sửa lần cuối:      {a['updated_at'][:19] or '-'} bởi {a['updated_by'] or '-'}",
    ):
        echo_line(line)


def _set_enabled(ctx: click.Context, code: str, enabled: bool) -> None:
    saved = do(ctx, lambda s, _: agency_admin.set_enabled(s, code, enabled, "cli"))
    state = "đã bật" if enabled else "đã tắt"
    click.echo(f"đơn vị {saved.code} {state}" + ("" if saved.changed else " (từ trước)"))
    if enabled:
        click.echo(f"{saved.taken_up} hồ sơ đang chờ đơn vị này được xử lý tiếp")
    else:
        click.echo("hồ sơ mới của đơn vị sẽ chờ (cần xử lý) đến khi bật lại; đơn đang đi "
                   "vẫn được theo dõi")


@agency.command("disable")
@click.argument("code", callback=clean_arg)
@click.pass_context
def agency_disable(ctx: click.Context, code: str | None) -> None:
    """No new courier for this agency: its new hand-offs wait until it is enabled."""
    _set_enabled(ctx, code or "", False)


@agency.command("enable")
@click.argument("code", callback=clean_arg)
@click.pass_context
def agency_enable(ctx: click.Context, code: str | None) -> None:
    """Enable the agency again; the hand-offs that waited for it go on."""
    _set_enabled(ctx, code or "", True)


agency.add_command(agency_import)
agency.add_command(agency_rotate_key)
__all__ = ["agency", "seed_fresh_database"]  # the migrate command seeds through this module
