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
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from worker.cli.common import clean_arg, echo_line, fail, prepare_embedded, runtime
from worker.db.models import Agency
from worker.domain.agency_spec import CREDENTIAL_FIELDS, SLA_FIELDS
from worker.domain.enums import DISPATCH_MODE_VI
from worker.domain.errors import InvalidInput
from worker.service import agency_admin, agency_views, uow
from worker.service.runtime import Runtime
from worker.service.vault import VaultError
from worker.settings import Settings

T = TypeVar("T")
STDIN_MAX = 64_000  # a credentials object is a few hundred bytes
IMPORT_MAX = 10_000_000  # a province's agencies: a few thousand entries at most
KEY_HINT = ("HANDOFF_CREDENTIALS_KEY phải là một hoặc nhiều khóa Fernet, cách nhau bởi dấu "
            "phẩy (khóa đầu mã hóa, mọi khóa đều giải mã); `handoff secrets` tạo khóa mới")
# option name -> field of the agency's description
_OPTION_FIELDS = {"name": "name", "tel": "tel", "email": "email", "address": "address",
                  "province": "province_code", "ward": "ward_code", "dispatch": "dispatch",
                  "route": "route", "customer_code": "customer_code",
                  "quota": "quota_per_second"}
_CREDENTIAL_PROMPTS = {"customer_key": "Khóa khách hàng (customer_key)",
                       "secret_key": "Mật khẩu tài khoản (secret_key)",
                       "push_secret": "Khóa ký báo trạng thái (push_secret)"}


class _DryRun(Exception):
    """Raised inside the transaction of `import --dry-run` so that it rolls back."""

    def __init__(self, results: list[agency_admin.Saved]) -> None:
        super().__init__("dry run")
        self.results = results


@click.group()
@click.pass_context
def agency(ctx: click.Context) -> None:
    """The province's agencies: sender block, dispatch, route (A/B), post-office account."""


def _runtime(ctx: click.Context) -> Runtime:
    """The runtime a caller handed in (tests: `invoke(agency, ..., obj=rt)`), else the
    process's own on the embedded default or HANDOFF_DATABASE_URL."""
    if isinstance(ctx.obj, Runtime):
        return ctx.obj
    prepare_embedded()
    return runtime()


def _said(err: InvalidInput) -> str:
    return f"{err.field}: {err.reason}" if err.field else err.reason


def _do(ctx: click.Context, work: Callable[[Session, Settings], T]) -> T:
    """`work` in one unit of work (posts it queues are rung after commit). A refusal is
    told as "field: reason" (exit 2, nothing stored); no value of a credential is in it."""
    rt = _runtime(ctx)
    try:
        with uow.begin(rt) as session:
            return work(session, rt.settings)
    except InvalidInput as err:
        fail(_said(err))
    except VaultError as err:
        fail(f"không mở được thông tin tài khoản đã lưu: {err}. {KEY_HINT}")


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
        click.option("--route", metavar="A|B|ngsp|lgsp",
                     help="A: thẳng cổng N-GSP; B: qua LGSP của tỉnh"),
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

    saved = _do(ctx, work)
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
    rows, missing = _do(ctx, lambda s, _: (agency_views.listing(s),
                                           agency_views.waiting_for_missing(s)))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("chưa có đơn vị nào (`handoff agency add` hoặc `handoff agency import`)")
    for a in rows:
        echo_line(f"{a['code']:<20} {_yes(a['enabled']):<10} tuyến {a['route_label'][:1]}  "
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
    a, shared = _do(ctx, lambda s, settings: (agency_views.detail(s, code or ""),
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
    saved = _do(ctx, lambda s, _: agency_admin.set_enabled(s, code, enabled, "cli"))
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


def _load(path: Path) -> object:
    try:
        with path.open("rb") as f:
            data = f.read(IMPORT_MAX + 1)
    except OSError as err:
        fail(f"file: không đọc được {path}: {err.strerror}")
    if len(data) > IMPORT_MAX:
        fail(f"file: lớn quá {IMPORT_MAX} byte")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        fail("file: không phải văn bản UTF-8")
    except json.JSONDecodeError as err:  # its message holds a position, never the text
        fail(f"file: không phải JSON hợp lệ (dòng {err.lineno}, cột {err.colno})")


@agency.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="chỉ in những gì sẽ thay đổi, không lưu")
@click.pass_context
def agency_import(ctx: click.Context, file: Path, dry_run: bool) -> None:
    """Add or update the agencies of a JSON file ({code: {...}} like HANDOFF_AGENCIES, or a
    list of objects with "code"): all of them, or none when one is wrong."""
    data = _load(file)

    def work(session: Session, settings: Settings) -> list[agency_admin.Saved]:
        results = agency_admin.import_agencies(session, settings, data, "import")
        if dry_run:
            raise _DryRun(results)
        return results

    try:
        results = _do(ctx, work)
    except _DryRun as done:
        results = done.results
    for r in results:
        what = ("thêm" if r.added else
                f"cập nhật: {', '.join(r.changed)}" if r.changed else "không đổi")
        echo_line(f"{r.code:<20} {what}"
                  + (f" ({r.taken_up} hồ sơ chờ được xử lý tiếp)" if r.taken_up else ""))
    added = sum(r.added for r in results)
    changed = sum(bool(r.changed) and not r.added for r in results)
    verb = "sẽ" if dry_run else "đã"
    click.echo(f"{len(results)} đơn vị: {verb} thêm {added}, {verb} cập nhật {changed}, "
               f"không đổi {len(results) - added - changed}"
               + (" (chạy thử: chưa lưu gì)" if dry_run else ""))


@agency.command("rotate-key")
@click.pass_context
def agency_rotate_key(ctx: click.Context) -> None:
    """Re-encrypt every agency's credentials under the first HANDOFF_CREDENTIALS_KEY."""
    count = _do(ctx, agency_admin.rotate_key)
    click.echo(f"đã mã hóa lại {count} tài khoản bằng khóa đầu tiên của "
               "HANDOFF_CREDENTIALS_KEY")
    click.echo(
        "Đổi khóa không cần dừng dịch vụ:\n"
        "  1. tạo khóa mới (`handoff secrets`); đặt HANDOFF_CREDENTIALS_KEY=KHÓA_MỚI,KHÓA_CŨ "
        "(khóa mới đứng đầu) cho mọi tiến trình (worker, beat, web) và khởi động lại chúng: "
        "chúng đọc được cả hai khóa;\n"
        "  2. chạy `handoff agency rotate-key` (lệnh này): mọi tài khoản được mã hóa lại "
        "bằng khóa mới;\n"
        "  3. bỏ khóa cũ: HANDOFF_CREDENTIALS_KEY=KHÓA_MỚI, khởi động lại các tiến trình.")


def seed_fresh_database() -> None:
    """After `handoff migrate`: a fresh database gets its agencies from HANDOFF_AGENCIES
    (and the ones its hand-offs name); later runs change nothing."""
    rt = runtime()
    try:
        with uow.begin(rt) as session:
            seeded = agency_admin.seed_if_fresh(session, rt.settings)
    except InvalidInput as err:
        fail(f"HANDOFF_AGENCIES: {_said(err)}")
    if not seeded:
        click.echo("agencies: không thêm gì (danh sách đơn vị đã ở trong cơ sở dữ liệu, hoặc "
                   "HANDOFF_AGENCIES trống); `handoff agency import FILE` để nạp thêm")
        return
    click.echo(f"agencies: đã thêm {len(seeded)} đơn vị lần đầu: "
               + ", ".join(r.code for r in seeded))
