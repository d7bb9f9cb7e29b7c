"""Agency settings on a migrated SQLite database: the page's value wins over the environment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.db.engine import Database
from worker.db.models import AgencySetting, Handoff, Job
from worker.service.agency_settings import (
    SOURCE_DEFAULT,
    SOURCE_ENV,
    dispatch_mode,
    list_agencies,
    set_dispatch,
)
from worker.settings import AgencyConfig, Settings

LAI_VUNG = "000.00.17.H19"
CAO_LANH = "000.00.21.H19"
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    return sqlite_db


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path, agencies={
        LAI_VUNG: AgencyConfig(name="UBND xã Lai Vung", dispatch="desk")})


def _h(i: int, agency: str, name: str, status: str = "requested") -> Handoff:
    return Handoff(dossier_code=f"{agency}-201126-{i:04d}", direction="result_delivery",
                   source_item_id=f"item-{i}", agency_code=agency, agency_name=name,
                   status=status, ready_at=NOW)


def test_environment_then_default_when_nothing_stored(db: Database, settings: Settings) -> None:
    with db.unit_of_work() as s:
        assert dispatch_mode(s, settings, LAI_VUNG) == "desk"
        assert dispatch_mode(s, settings, CAO_LANH) == "auto"  # default_agency
        assert dispatch_mode(s, settings, "") == "auto"


def test_stored_mode_overrides_the_environment(db: Database, settings: Settings) -> None:
    with db.unit_of_work() as s:
        set_dispatch(s, LAI_VUNG, "auto", "ops")
        set_dispatch(s, CAO_LANH, "desk", "ops")
    with db.unit_of_work() as s:
        assert dispatch_mode(s, settings, LAI_VUNG) == "auto"
        assert dispatch_mode(s, settings, CAO_LANH) == "desk"
        set_dispatch(s, LAI_VUNG, "desk", "ops2")  # changed again: one row, updated
    with db.unit_of_work() as s:
        assert dispatch_mode(s, settings, LAI_VUNG) == "desk"
        row = s.get(AgencySetting, LAI_VUNG)
        assert row is not None and row.updated_by == "ops2" and row.updated_at.tzinfo


@pytest.mark.parametrize(("code", "mode", "words"), [
    (LAI_VUNG, "manual", "không hợp lệ"),
    (LAI_VUNG, "", "không hợp lệ"),
    (LAI_VUNG, "AUTO", "không hợp lệ"),
    ("", "auto", "Chưa chọn đơn vị"),
    ("   ", "desk", "Chưa chọn đơn vị"),
    ("x" * 41, "auto", "dài quá"),
    ("000.00.17\x00H19", "auto", "không hợp lệ"),  # PostgreSQL would refuse the NUL: a 500
    ("000.00.17.H19\ud800", "desk", "không hợp lệ"),
])
def test_bad_input_is_refused_in_vietnamese(db: Database, settings: Settings, code: str,
                                            mode: str, words: str) -> None:
    with db.unit_of_work() as s, pytest.raises(ValueError, match=words):
        set_dispatch(s, code, mode, "ops")
    with db.unit_of_work() as s:
        assert s.query(AgencySetting).count() == 0
        assert dispatch_mode(s, settings, LAI_VUNG) == "desk"


def test_listing_covers_environment_page_and_handoffs(db: Database, settings: Settings) -> None:
    with db.unit_of_work() as s:
        s.add_all([_h(1, LAI_VUNG, "UBND xã Lai Vung"), _h(2, LAI_VUNG, "UBND xã Lai Vung"),
                   _h(3, CAO_LANH, "UBND phường Cao Lãnh"),
                   _h(4, CAO_LANH, "UBND phường Cao Lãnh", status="accepted")])
        s.flush()
        posted = _h(5, LAI_VUNG, "UBND xã Lai Vung")
        s.add(posted)
        s.flush()
        s.add(Job(kind="post_order", handoff_id=posted.id, idempotency_key="post:5"))
        set_dispatch(s, "000.00.99.H19", "desk", "ops")  # known only from the page
    with db.unit_of_work() as s:
        rows = {r.code: r for r in list_agencies(s, settings)}
    assert list(rows) == sorted(rows) == [LAI_VUNG, CAO_LANH, "000.00.99.H19"]

    lai_vung = rows[LAI_VUNG]
    assert (lai_vung.name, lai_vung.mode, lai_vung.source) == ("UBND xã Lai Vung", "desk",
                                                                SOURCE_ENV)
    assert not lai_vung.overridden and lai_vung.waiting == 2  # the posted one is not waiting
    assert lai_vung.mode_label.startswith("Tại bàn một cửa")

    cao_lanh = rows[CAO_LANH]
    assert (cao_lanh.name, cao_lanh.mode, cao_lanh.source) == ("UBND phường Cao Lãnh", "auto",
                                                                SOURCE_DEFAULT)
    assert cao_lanh.waiting == 1

    page_only = rows["000.00.99.H19"]
    assert page_only.mode == "desk" and page_only.overridden and page_only.env_mode == "auto"
    assert page_only.source.startswith("đổi trên trang bởi ops lúc ")

    with db.unit_of_work() as s:
        set_dispatch(s, LAI_VUNG, "auto", "ops")
        after = {r.code: r for r in list_agencies(s, settings)}[LAI_VUNG]
    assert after.mode == "auto" and after.env_mode == "desk" and after.overridden
    assert "đổi trên trang bởi ops" in after.source
    assert after.waiting == 2  # switching does not post what is already waiting


def test_empty_when_nothing_is_known(db: Database, tmp_path) -> None:
    with db.unit_of_work() as s:
        assert list_agencies(s, Settings(home=tmp_path)) == []
