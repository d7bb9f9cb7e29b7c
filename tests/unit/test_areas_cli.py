"""The area table in the database: the migration loads the placeholders; `handoff areas
import` swaps a good table in and refuses a bad one (line and reason, exit 2, nothing
changed); `handoff areas check` lists unmapped wards; `handoff check` and the ops overview
warn while the placeholders are in use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete, func, select

from tests.web_app import login
from worker.cli import main
from worker.db.engine import Database
from worker.db.models import CarrierArea, CarrierAreaTable
from worker.domain.area_table import current_wards
from worker.launch.health import FLEET_HEARTBEAT, beat_heartbeat
from worker.service.agencies import areas
from worker.settings import get_settings

pytestmark = pytest.mark.flows  # the CLI and the ops overview on a database

SEED = Path(__file__).resolve().parents[2] / "worker" / "db" / "seed" / "area_codes.csv"
NEW_HOAN_KIEM = (101, 999001)  # the post office's codes for Phường Hoàn Kiếm (1/70)

Run = Callable[..., Result]


@pytest.fixture
def handoff(sqlite_db: Database, tmp_path: Path) -> Iterator[Run]:
    """`handoff …` in this process on `sqlite_db` (settings rebuilt from this environment)."""
    runner = CliRunner(env={"HANDOFF_DATABASE_URL": sqlite_db.url,
                            "HANDOFF_HOME": str(tmp_path)})
    get_settings.cache_clear()
    yield lambda *args: runner.invoke(main, list(args))
    get_settings.cache_clear()


def table(db: Database) -> dict[tuple[int, int], tuple[int, int]]:
    with db.unit_of_work() as s:
        return areas.current(s)


def info(db: Database) -> areas.TableInfo:
    with db.unit_of_work() as s:
        return areas.info(s)


def post_office_file(tmp_path: Path, text: str | None = None) -> Path:
    """The placeholders with Hoàn Kiếm given the post office's own codes (or `text`)."""
    path = tmp_path / "buudien.csv"
    path.write_text(text if text is not None else SEED.read_text(encoding="utf-8").replace(
        "1,70,1,1004\n", f"1,70,{NEW_HOAN_KIEM[0]},{NEW_HOAN_KIEM[1]}\n"), encoding="utf-8")
    return path


def test_the_migration_loads_the_placeholders(sqlite_db: Database) -> None:
    t = table(sqlite_db)
    assert len(t) == len(current_wards()) == 3321 and t[(82, 30226)] == (82, 82098)
    i = info(sqlite_db)
    assert (i.source, i.placeholder, i.row_count) == ("placeholder", True, 3321)


def test_import_swaps_the_table_and_tells_what_changed(handoff: Run, sqlite_db: Database,
                                                       tmp_path: Path) -> None:
    before = table(sqlite_db)
    result = handoff("areas", "import", str(post_office_file(tmp_path)))
    assert result.exit_code == 0, result.output
    assert "thêm 0, đổi 1, bỏ 0, giữ nguyên 3320" in result.output
    assert ("~ Phường Hoàn Kiếm, Thành phố Hà Nội (1/70): 1/1004 → 101/999001"
            in result.output)
    assert "Đã thay bảng mã vùng" in result.output
    assert table(sqlite_db) == {**before, (1, 70): NEW_HOAN_KIEM}
    i = info(sqlite_db)
    assert (i.source, i.placeholder, i.row_count) == ("buudien.csv", False, 3321)
    assert i.imported_by.startswith("cli")


def test_a_dry_run_tells_the_changes_and_changes_nothing(handoff: Run, sqlite_db: Database,
                                                         tmp_path: Path) -> None:
    before, meta = table(sqlite_db), info(sqlite_db)
    result = handoff("areas", "import", "--dry-run", str(post_office_file(tmp_path)))
    assert result.exit_code == 0, result.output
    assert "đổi 1" in result.output and "chưa thay đổi gì" in result.output
    assert table(sqlite_db) == before and info(sqlite_db) == meta


@pytest.mark.parametrize(("old", "new", "why"), [
    ("1,70,1,1004\n", "", "thiếu 1 xã/phường của Thành phố Hà Nội (mã 1): 70 Phường Hoàn Kiếm"),
    ("1,70,1,1004\n", "1,70,1,10O4\n", "dòng 5: carrier_district '10O4' không phải số"),
    ("1,70,1,1004\n", "82,70,1,1004\n", "dòng 5: xã/phường mã 70 (Phường Hoàn Kiếm) thuộc "
                                         "tỉnh mã 1"),
    ("1,70,1,1004\n", "1,70,1,1004\n1,70,1,1005\n", "dòng 6: xã/phường mã 70 đã có ở dòng 5"),
    ("1,70,1,1004\n", "1,70,82,1003\n", "dòng 5: mã quận/huyện của bưu điện 1003 thuộc mã "
                                         "tỉnh 1 ở dòng 4, dòng này ghi mã tỉnh 82"),
])
def test_a_bad_table_is_refused_naming_the_line_and_nothing_changes(
        handoff: Run, sqlite_db: Database, tmp_path: Path, old: str, new: str,
        why: str) -> None:
    before, meta = table(sqlite_db), info(sqlite_db)
    text = SEED.read_text(encoding="utf-8").replace(old, new)
    result = handoff("areas", "import", str(post_office_file(tmp_path, text)))
    assert result.exit_code == 2, result.output
    assert why in result.stderr
    assert "không nhập bảng mã vùng" in result.stderr and "bảng đang dùng giữ nguyên" in (
        result.stderr)
    assert table(sqlite_db) == before and info(sqlite_db) == meta


def test_a_file_that_is_not_utf8_is_refused_naming_the_line(handoff: Run, sqlite_db: Database,
                                                            tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"gso_province,gso_ward,carrier_province,carrier_district\n"
                     b"1,70,1,1004\n1,4,1,1001 \xe9\n")
    result = handoff("areas", "import", str(path))
    assert result.exit_code == 2 and "dòng 3: tệp không phải văn bản UTF-8" in result.stderr


def test_areas_check_lists_the_unmapped_wards_by_province(handoff: Run, sqlite_db: Database,
                                                          tmp_path: Path) -> None:
    result = handoff("areas", "check")
    assert result.exit_code == 0, result.output
    assert "mã tạm thời" in result.output and "CẢNH BÁO" in result.output
    assert "Mọi xã/phường hiện hành (3321) đều có mã vùng của bưu điện." in result.output

    assert handoff("areas", "import", str(post_office_file(tmp_path))).exit_code == 0
    with sqlite_db.unit_of_work() as s:  # wards the table lost (e.g. new wards since)
        s.execute(delete(CarrierArea).where(CarrierArea.gso_ward.in_([4, 70, 30226])))
    result = handoff("areas", "check")
    assert result.exit_code == 1, result.output
    assert "CẢNH BÁO" not in result.output and "tệp buudien.csv" in result.output
    assert "Còn 3 xã/phường hiện hành chưa có mã vùng của bưu điện" in result.output
    assert ("  Thành phố Hà Nội (mã 1): 2 xã/phường\n    4 Phường Ba Đình\n"
            "    70 Phường Hoàn Kiếm\n  Đồng Tháp (mã 82): 1 xã/phường\n"
            "    30226 Xã Lai Vung\n") in result.output
    as_json = handoff("areas", "check", "--json")
    assert as_json.exit_code == 1 and '"unmapped_count": 3' in as_json.output


def test_handoff_check_warns_of_placeholders_and_stays_healthy(
        handoff: Run, sqlite_db: Database, tmp_path: Path) -> None:
    beat_heartbeat(sqlite_db, FLEET_HEARTBEAT)
    result = handoff("check")
    assert result.exit_code == 0 and result.stdout.strip() == "ok", result.output
    assert "CẢNH BÁO: Bảng mã vùng của bưu điện đang là mã tạm thời" in result.stderr
    assert "handoff areas import" in result.stderr

    assert handoff("areas", "import", str(post_office_file(tmp_path))).exit_code == 0
    result = handoff("check")
    assert result.exit_code == 0 and result.stderr == ""


def test_the_ops_overview_warns_while_placeholders_are_in_use(web_app, tmp_path) -> None:
    login(web_app.client, "ops")
    page = web_app.client.get("/ops")
    assert page.status_code == 200
    assert 'id="area-placeholder"' in page.text
    assert "đơn gửi đi sẽ mang mã vùng sai tại bưu điện thật" in page.text
    assert "handoff areas import" in page.text

    with web_app.db.unit_of_work() as s:  # the post office's own table, swapped in
        areas.swap(s, {**areas.current(s), (1, 70): NEW_HOAN_KIEM}, source="buudien.csv",
                   actor="test")
        assert s.scalar(select(func.count()).select_from(CarrierAreaTable)) == 1
    assert 'id="area-placeholder"' not in web_app.client.get("/ops").text
