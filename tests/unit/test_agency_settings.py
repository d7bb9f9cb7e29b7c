"""The settings page's dispatch mode, kept in the agencies table (the one truth)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete

from simulators.onestop.data import AGENCIES
from tests.agencies import seed
from worker.db.engine import Database
from worker.db.models import Agency, Handoff, Job
from worker.service.flow.agency_settings import (
    SOURCE_UNDECLARED,
    dispatch_mode,
    list_agencies,
    set_dispatch,
)
from worker.settings import Settings

LAI_VUNG = "000.00.17.H19"
CAO_LANH = "000.00.21.H19"
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    seed(sqlite_db, **{LAI_VUNG: {"dispatch": "desk"}})
    return sqlite_db


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path)


def _h(i: int, agency: str, name: str, status: str = "requested") -> Handoff:
    return Handoff(dossier_code=f"{agency}-201126-{i:04d}", direction="result_delivery",
                   source_item_id=f"item-{i}", agency_code=agency, agency_name=name,
                   status=status, ready_at=NOW)


def test_the_table_decides_and_an_undeclared_agency_never_posts(db: Database,
                                                                settings: Settings) -> None:
    with db.unit_of_work() as s:
        assert dispatch_mode(s, settings, LAI_VUNG) == "desk"
        assert dispatch_mode(s, settings, CAO_LANH) == "auto"
        assert dispatch_mode(s, settings, "000.00.99.H19") == "desk"
        assert dispatch_mode(s, settings, "") == "desk"


def test_a_change_is_stored_on_the_agency(db: Database, settings: Settings) -> None:
    with db.unit_of_work() as s:
        set_dispatch(s, LAI_VUNG, "auto", "ops")
        set_dispatch(s, CAO_LANH, "desk", "ops")
    with db.unit_of_work() as s:
        assert dispatch_mode(s, settings, LAI_VUNG) == "auto"
        assert dispatch_mode(s, settings, CAO_LANH) == "desk"
        set_dispatch(s, LAI_VUNG, "desk", "ops2")
    with db.unit_of_work() as s:
        row = s.get(Agency, LAI_VUNG)
        assert row is not None and row.dispatch == "desk" and row.updated_by == "ops2"
        assert row.updated_at.tzinfo


@pytest.mark.parametrize(("code", "mode", "words"), [
    (LAI_VUNG, "manual", "không hợp lệ"),
    (LAI_VUNG, "", "không hợp lệ"),
    (LAI_VUNG, "AUTO", "không hợp lệ"),
    ("", "auto", "Chưa chọn đơn vị"),
    ("   ", "desk", "Chưa chọn đơn vị"),
    ("x" * 41, "auto", "dài quá"),
    ("000.00.17\x00H19", "auto", "không hợp lệ"),  # PostgreSQL would refuse the NUL: a 500
    ("000.00.17.H19\ud800", "desk", "không hợp lệ"),
    ("000.00.99.H19", "auto", "chưa được khai báo"),
])
def test_bad_input_is_refused_in_vietnamese(db: Database, settings: Settings, code: str,
                                            mode: str, words: str) -> None:
    with db.unit_of_work() as s, pytest.raises(ValueError, match=words):
        set_dispatch(s, code, mode, "ops")
    with db.unit_of_work() as s:
        assert dispatch_mode(s, settings, LAI_VUNG) == "desk"
        assert s.get(Agency, "000.00.99.H19") is None


def test_listing_covers_the_table_and_undeclared_agencies(db: Database,
                                                         settings: Settings) -> None:
    with db.unit_of_work() as s:
        s.add_all([_h(1, LAI_VUNG, "UBND xã Lai Vung"), _h(2, LAI_VUNG, "UBND xã Lai Vung"),
                   _h(3, "000.00.99.H19", "UBND xã Mới", status="needs_attention")])
        s.flush()
        posted = _h(5, LAI_VUNG, "UBND xã Lai Vung")
        s.add(posted)
        s.flush()
        s.add(Job(kind="post_order", handoff_id=posted.id, idempotency_key="post:5"))
    with db.unit_of_work() as s:
        rows = {r.code: r for r in list_agencies(s, settings)}
    assert list(rows) == sorted(rows) and len(rows) == len(AGENCIES) + 1  # one undeclared

    lai_vung = rows[LAI_VUNG]
    assert (lai_vung.name, lai_vung.mode) == ("UBND xã Lai Vung", "desk")
    assert lai_vung.waiting == 2  # the posted one is not waiting
    assert lai_vung.mode_label.startswith("Tại bàn một cửa")
    assert rows[CAO_LANH].mode == "auto" and rows[CAO_LANH].waiting == 0

    undeclared = rows["000.00.99.H19"]
    assert undeclared.mode == "" and undeclared.source == SOURCE_UNDECLARED
    assert undeclared.name == "UBND xã Mới"


def test_empty_when_nothing_is_known(db: Database, tmp_path) -> None:
    with db.unit_of_work() as s:
        s.execute(delete(Agency))
    with db.unit_of_work() as s:
        assert list_agencies(s, Settings(home=tmp_path)) == []
