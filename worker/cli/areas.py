"""`handoff areas`: import the post office's area table (checked, then swapped in one
transaction) and check which wards in force the table in use does not map."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.orm import Session

from worker.cli.common import fail, prepare_embedded
from worker.db.engine import Database
from worker.domain import area_table
from worker.domain.moments import local
from worker.domain.text import safe_display
from worker.service.agencies import areas
from worker.service.ledger import uow
from worker.settings import get_settings

MAX_FILE_BYTES = 20 * 1024 * 1024  # the country's table is about 100 KB
SHOWN_PROBLEMS = 50
SHOWN_CHANGES = 10


@contextmanager
def _session(*, read: bool = False) -> Iterator[Session]:
    """One transaction on the configured database (the embedded one migrated first), read
    only when `read`. Only the database: no adapter, broker or web app is loaded for these
    commands, so no bell either (the area table queues no work)."""
    prepare_embedded()
    db = Database(get_settings().resolved_database_url())
    try:
        with uow.read(db) if read else uow.write(db) as s:
            yield s
    finally:
        db.dispose()


@click.group(name="areas")
def areas_group() -> None:
    """The post office's area table (GSO ward -> the carrier's province/district codes)."""


@areas_group.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="check and show the changes; change nothing")
def import_cmd(file: Path, dry_run: bool) -> None:
    """Check FILE (CSV: gso_province,gso_ward,carrier_province,carrier_district) and
    replace the area table with it in one transaction. Refused (exit 2) with the lines
    and reasons when any ward in force is missing, a code is malformed or a line is
    ambiguous; the table in use is then left as it was."""
    text = _read(file)
    checked = area_table.check(text, area_table.current_wards())
    if checked.problems:
        for p in checked.problems[:SHOWN_PROBLEMS]:
            click.echo(safe_display(str(p), 2000), err=True)
        more = len(checked.problems) - SHOWN_PROBLEMS
        if more > 0:
            click.echo(f"… và {more} lỗi khác", err=True)
        fail(f"không nhập bảng mã vùng ({len(checked.problems)} lỗi); bảng đang dùng giữ "
             "nguyên")
    source = safe_display(file.name, 200)
    with _session() as s:
        before = areas.info(s)
        diff = areas.swap(s, checked.areas, source=source, actor=_actor(), apply=not dry_run)
    repeated = f" ({checked.repeated} dòng lặp lại giống hệt, bỏ qua)" if checked.repeated else ""
    click.echo(f"Tệp {source}: {len(checked.areas)} xã/phường, mọi xã/phường hiện hành đều "
               f"có mã vùng{repeated}.")
    click.echo(f"So với bảng đang dùng ({_described(before)}): thêm {len(diff.added)}, "
               f"đổi {len(diff.changed)}, bỏ {len(diff.removed)}, "
               f"giữ nguyên {diff.unchanged}.")
    for line in area_table.sample_lines(diff, SHOWN_CHANGES):
        click.echo(f"  {line}")
    if dry_run:
        click.echo("Chạy thử (--dry-run): chưa thay đổi gì.")
    else:
        click.echo("Đã thay bảng mã vùng; mọi tiến trình dùng bảng mới từ đơn kế tiếp.")


@areas_group.command(name="check")
@click.option("--json", "as_json", is_flag=True)
def check_cmd(as_json: bool) -> None:
    """List the wards in force the table in use does not map (exit 1 when there are any)
    and say whether the table is still the placeholders."""
    with _session(read=True) as s:
        info = areas.info(s)
        table = areas.current(s)
    current = area_table.current_wards()
    missing = area_table.unmapped(table, current)
    stale = area_table.stale(table, current)
    count = sum(map(len, missing.values()))
    if as_json:
        click.echo(json.dumps({
            "source": info.source, "placeholder": info.placeholder, "rows": info.row_count,
            "imported_at": local(info.imported_at), "imported_by": info.imported_by,
            "unmapped_count": count, "stale_rows": len(stale),
            "unmapped": {str(p): wards for p, wards in missing.items()},
        }, ensure_ascii=False, indent=1))
    else:
        click.echo(f"Bảng mã vùng đang dùng: {_described(info)}, {info.row_count} dòng.")
        if info.placeholder:
            click.echo(f"CẢNH BÁO: {areas.PLACEHOLDER_NOTICE}")
        _echo_missing(missing, count, len(current))
        if stale:
            click.echo(f"{len(stale)} dòng của bảng không còn là xã/phường hiện hành "
                       "(không dùng đến).")
    if count:
        sys.exit(1)


def _echo_missing(missing: dict[int, list[int]], count: int, total: int) -> None:
    if not count:
        click.echo(f"Mọi xã/phường hiện hành ({total}) đều có mã vùng của bưu điện.")
        return
    click.echo(f"Còn {count} xã/phường hiện hành chưa có mã vùng của bưu điện (đơn tới các "
               "xã/phường này bị từ chối):")
    for province, wards in missing.items():
        click.echo(f"  {area_table.province_name(province)} (mã {province}): "
                   f"{len(wards)} xã/phường")
        for ward in wards:
            click.echo(f"    {ward} {area_table.ward_name(ward)}")
    click.echo("Nhập bảng đầy đủ của bưu điện bằng `handoff areas import TỆP`.")


def _read(file: Path) -> str:
    """The file as text, or a refusal naming the line of the first byte that is not UTF-8."""
    with file.open("rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        fail(f"tệp lớn hơn {MAX_FILE_BYTES // (1024 * 1024)} MB; đây không phải bảng mã vùng")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        fail(f"dòng {line}: tệp không phải văn bản UTF-8")


def _described(info: areas.TableInfo) -> str:
    what = "mã tạm thời" if info.placeholder else f"tệp {info.source}"
    if info.placeholder and info.source not in ("", "placeholder"):
        what += f" từ tệp {info.source}"
    when = f", nạp lúc {local(info.imported_at)}" if info.imported_at else ""
    who = f" bởi {info.imported_by}" if info.imported_by else ""
    return what + when + who


def _actor() -> str:
    """Who ran the import, for the table's row: the command line and the system user."""
    try:
        return f"cli:{getpass.getuser()}"[:80]
    except (OSError, KeyError):  # no user name in a bare container
        return "cli"
