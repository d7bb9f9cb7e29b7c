"""The area table decides the codes an order carries: the post office's table, once
imported, is what the next post sends to the carrier (the production adapter against the
carrier simulator on loopback); a ward the table does not map is refused for good, the
hand-off needs a person, and nothing reaches the carrier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete

from simulators.carrier.app import SimConfig, running
from tests.onestop_items import numbered
from tests.service.fakes import CommittedBell, FakeCarrier, FakeNotifier, FakeOnestop, LedgerClock
from tests.service.world import World
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.models import CarrierArea
from worker.domain import area_table
from worker.service.agencies import areas
from worker.service.ledger import uow
from worker.settings import Settings

SEED = Path(__file__).resolve().parents[2] / "worker" / "db" / "seed" / "area_codes.csv"
HOAN_KIEM, LAI_VUNG = (1, 70), (82, 30226)  # the citizen's ward, the desk's ward
NEW = {HOAN_KIEM: (101, 999001), LAI_VUNG: (820, 999002)}  # the post office's own codes


@pytest.fixture
def posting(sqlite_db: Database, tmp_path: Path) -> Iterator[tuple[World, httpx.Client]]:
    """The world with the production carrier adapter (route A, the deployment's account)
    posting to the carrier simulator; and an admin client of that simulator."""
    with running(SimConfig(seed=5, return_rate=0.0, pickup_fail_rate=0.0)) as sim:
        settings = Settings(home=tmp_path, database_url=sqlite_db.url, carrier_base_url=sim,
                            carrier_timeout_seconds=5.0, max_attempts=3)
        onestop, notifier, bell = FakeOnestop(), FakeNotifier(), CommittedBell(sqlite_db)
        rt = build_runtime(settings=settings, db=sqlite_db, onestop=onestop,
                           notifier=notifier, bell=bell)
        with httpx.Client(base_url=sim, timeout=5) as admin:
            yield World(rt, FakeCarrier(), onestop, notifier, bell, LedgerClock(sqlite_db)), admin
        rt.close()


def sent_areas(admin: httpx.Client, order_number: str) -> dict[str, int]:
    """The area codes of the order as the carrier received it."""
    r = admin.get(f"_admin/orders/{order_number}")
    assert r.status_code == 200, r.text
    body = r.json()["body"]
    return {k: body[k] for k in ("SenderProvince", "SenderDistrict", "ReceiverProvince",
                                 "ReceiverDistrict")}


def post_one(world: World, n: int) -> tuple[str, int]:
    """A result delivery to a citizen of Phường Hoàn Kiếm, posted: (order number, id)."""
    got = world.ingest(numbered(n, citizen__provinceCode="1", citizen__wardCode="70"))
    assert got.handoff_id is not None, got
    world.work()
    return f"{numbered(n)['dossierCode']}/R1", got.handoff_id


def test_the_imported_table_is_what_the_next_post_sends(posting) -> None:
    world, admin = posting
    placeholder_order, _ = post_one(world, 1)
    assert sent_areas(admin, placeholder_order) == {
        "SenderProvince": 82, "SenderDistrict": 82098,  # the desk, Xã Lai Vung
        "ReceiverProvince": 1, "ReceiverDistrict": 1004}  # the citizen, Phường Hoàn Kiếm

    text = SEED.read_text(encoding="utf-8").replace("1,70,1,1004\n", "1,70,101,999001\n")
    text = text.replace("82,30226,82,82098\n", "82,30226,820,999002\n")
    checked = area_table.check(text, area_table.current_wards())
    assert checked.problems == []
    with uow.begin(world.rt) as s:
        diff = areas.swap(s, checked.areas, source="buudien.csv", actor="test")
    assert len(diff.changed) == 2

    order, hid = post_one(world, 2)
    assert world.handoff(hid).status == "accepted"
    assert sent_areas(admin, order) == {
        "SenderProvince": 820, "SenderDistrict": 999002,
        "ReceiverProvince": 101, "ReceiverDistrict": 999001}


def test_an_unmapped_ward_is_refused_for_good_and_never_sent(posting) -> None:
    world, admin = posting
    with world.rt.db.unit_of_work() as s:  # e.g. a ward in force since the table was made
        s.execute(delete(CarrierArea).where(CarrierArea.gso_ward == HOAN_KIEM[1]))
    order, hid = post_one(world, 3)
    (post,) = world.jobs("post_order", hid)
    assert post.state == "dead" and post.attempts == 1
    assert post.last_error == ("xã/phường mã 70 (tỉnh mã 1) chưa có mã vùng của bưu điện; "
                               "đề nghị bổ sung bảng mã (handoff areas import)")
    h = world.handoff(hid)
    assert h.status == "needs_attention" and h.status_reason == post.last_error
    assert admin.get(f"_admin/orders/{order}").status_code == 404
