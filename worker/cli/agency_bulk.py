"""`handoff agency import FILE` and `handoff agency rotate-key`: every agency of a file, or
every stored account, in one transaction (all or nothing)."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.orm import Session

from worker.cli.agency_run import do
from worker.cli.common import echo_line, fail
from worker.domain import json_input
from worker.domain.errors import InvalidInput
from worker.domain.text import safe_display
from worker.service.admin import agency_admin
from worker.settings import Settings

IMPORT_MAX = 10_000_000  # a province's agencies: a few thousand entries at most
IMPORT_DEPTH = 8  # {code: {"sla": {name: number}}} is 3 deep; a list of them 3 too


class _DryRun(Exception):
    """Raised inside the transaction of `import --dry-run` so that it rolls back."""

    def __init__(self, results: list[agency_admin.Saved]) -> None:
        super().__init__("dry run")
        self.results = results


def _load(path: Path) -> object:
    """The file's JSON value, or a refusal (exit 2) naming the file and the problem: read
    within bounds, then parsed by json_input (nesting, NaN, huge numbers, repeated keys)."""
    where = f"tệp {safe_display(str(path))}"
    try:
        with path.open("rb") as f:
            data = f.read(IMPORT_MAX + 1)
    except OSError as err:
        fail(f"{where}: không đọc được: {err.strerror}")
    if len(data) > IMPORT_MAX:
        fail(f"{where}: lớn quá {IMPORT_MAX:,} byte".replace(",", "."))
    try:
        text = data.decode("utf-8-sig")  # a BOM (Windows editors) is not content
    except UnicodeDecodeError:
        fail(f"{where}: không phải văn bản UTF-8")
    try:
        return json_input.loads(text, IMPORT_DEPTH, where, unique_keys=True, detailed=True)
    except InvalidInput as err:  # a key of the file may be in it: shown escaped
        fail(f"{where}: {safe_display(err.reason)}")


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="chỉ in những gì sẽ thay đổi, không lưu")
@click.pass_context
def agency_import(ctx: click.Context, file: Path, dry_run: bool) -> None:
    """Add or update the agencies of a JSON file ({code: {...}} like HANDOFF_AGENCIES, or a
    list of objects with "code"): all of them, or none when one is wrong."""
    data = _load(file)

    def work(session: Session, settings: Settings) -> list[agency_admin.Saved]:
        try:
            results = agency_admin.import_agencies(session, settings, data, "import")
        except InvalidInput as err:  # the file named too: "tệp F: CODE.field: reason"
            where = f"tệp {safe_display(str(file))}"
            raise InvalidInput(err.reason, code=err.code,
                               field=f"{where}: {err.field}" if err.field else where
                               ) from None
        if dry_run:
            raise _DryRun(results)
        return results

    try:
        results = do(ctx, work)
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


@click.command("rotate-key")
@click.pass_context
def agency_rotate_key(ctx: click.Context) -> None:
    """Re-encrypt every agency's credentials under the first HANDOFF_CREDENTIALS_KEY."""
    count = do(ctx, agency_admin.rotate_key)
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


