"""On PostgreSQL the area table is swapped in one transaction: an order built while an
import is not yet committed gets the old codes for every ward, and the first order after
the commit gets the new ones, in any process (a second connection stands for one)."""

from __future__ import annotations

import pytest

from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.domain.model import Address, CarrierOrder, Contact
from worker.domain.statuses import Direction
from worker.service.agencies import areas

HOAN_KIEM, LAI_VUNG = (1, 70), (82, 30226)


def order() -> CarrierOrder:
    citizen = Contact("Nguyễn Thị Hồng", "0912345678", Address("Số 12 Hàng Bài", "1", "70"))
    desk = Contact("Một cửa", "02773000000", Address("Trung tâm", "82", "30226"))
    return CarrierOrder("000.00.17.H19-291126-0001/R1", Direction.RESULT_DELIVERY, desk,
                        citizen)


def codes(db: Database) -> tuple[object, object]:
    with db.unit_of_work() as s:
        o = areas.resolve(s, order())
    return o.sender.address.carrier_area, o.receiver.address.carrier_area


@pytest.mark.services
def test_an_import_is_seen_whole_or_not_at_all(pg_url: str) -> None:
    upgrade(pg_url)
    importer, worker = Database(pg_url), Database(pg_url)
    try:
        assert codes(worker) == ((82, 82098), (1, 1004))
        with importer.unit_of_work() as s:
            new = {**areas.current(s), HOAN_KIEM: (101, 999001), LAI_VUNG: (820, 999002)}
            areas.swap(s, new, source="buudien.csv", actor="test")
            assert codes(worker) == ((82, 82098), (1, 1004))  # not committed: the old table
        assert codes(worker) == ((820, 999002), (101, 999001))
        with worker.unit_of_work() as s:
            info = areas.info(s)
        assert (info.source, info.placeholder, info.row_count) == ("buudien.csv", False, 3321)
    finally:
        importer.dispose()
        worker.dispose()
