"""Hostile one-stop items on a real worker: they never stop the feed nor the valid items."""

from __future__ import annotations

import copy

import httpx
from sqlalchemy import select

from tests.integration.flow import ledger_drained, wait_until
from worker.db.engine import Database
from worker.db.models import Cursor, Handoff
from worker.service.feeds import ONESTOP_CURSOR
from worker.stack import Stack

GOOD = {
    "type": "result_ready",
    "procedure": {"code": "1.004227", "name": "Cấp giấy phép xây dựng"},
    "agency": {"code": "000.00.17.H19", "name": "UBND xã Lai Vung"},
    "citizen": {"name": "Nguyễn Thị Hồng", "phone": "0912345678", "email": None,
                "address": "Số 12, ấp Tân Thạnh", "provinceCode": "82", "wardCode": "30226"},
    "codAmount": 0, "createdAt": "2026-11-26T09:15:00+07:00", "note": "",
}


def _hostile(n: int, **changes: object) -> dict:
    item = copy.deepcopy(GOOD)
    item["id"] = f"hof_hostile_{n:02d}"
    item["dossierCode"] = f"000.00.17.H19-291126-{9000 + n:04d}"
    for path, value in changes.items():
        target = item
        *parents, last = path.split("__")
        for p in parents:
            target = target[p]
        target[last] = value
    return item


def _nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


# each: (the item, the wire field its refusal must name)
HOSTILE = [
    (_hostile(1, dossierCode="000.00.17.H19-291126-\ud800"), "dossierCode"),
    (_hostile(2, citizen__name="Nguyễn\x00Văn A"), "citizen.name"),
    (_hostile(3, createdAt="9999-12-31T00:00:00+07:00"), "createdAt"),
    (_hostile(4, createdAt="0001-01-01T00:00:00+07:00"), "createdAt"),
    (_hostile(5, codAmount=1e30), "codAmount"),
    (_hostile(6, codAmount=10**30), "codAmount"),
    (_hostile(7, citizen__address="Ấp " * 40_000), "citizen.address"),
    (_hostile(8, procedure__name="Cấp phép\x1b[2J"), "procedure.name"),
    (_hostile(9, citizen__name=_nested(25)), "citizen.name"),
    (_hostile(10, citizen__wardCode=["30226"]), "citizen.wardCode"),
]


def test_ten_hostile_items_before_five_valid_ones_never_stop_the_feed(tmp_path):
    with Stack(home=tmp_path / "home") as stack:
        db = Database(f"sqlite:///{tmp_path / 'home' / 'handoff.db'}")
        stack.start_simulators()
        stack.carrier_admin("faults", {"return_rate": 0.0, "pickup_fail_rate": 0.0})
        stack.onestop_admin("handoffs", {"items": [item for item, _ in HOSTILE]})
        valid = stack.onestop_admin("handoffs", {"count": 5, "type": "result_ready"})["items"]
        stack.start_all()
        try:
            wait_until(db, lambda c: c.get("delivered", 0) == 5 and c.get(
                "needs_attention", 0) == 10, 150, "5 delivered and 10 needing attention", stack)
            ledger_drained(db, 60, stack)
            with db.unit_of_work() as s:
                rows = {h.source_item_id: h for h in s.scalars(select(Handoff))}
                cursor = s.get_one(Cursor, ONESTOP_CURSOR).value
            for item in valid:
                assert rows[item["id"]].status == "delivered"
            for item, field in HOSTILE:
                h = rows[item["id"]]
                assert h.status == "needs_attention", (item["id"], h.status)
                assert h.status_reason.startswith(f"{field}:"), (item["id"], h.status_reason)
            # the cursor is past all 15: the one-stop has nothing after it
            rest = httpx.get(f"{stack.onestop_url}api/v1/postal-handoffs",
                             params={"after": cursor, "limit": 500},
                             headers={"Authorization": "Bearer demo-onestop-key"}).json()
            assert cursor == "c_000015" and rest["items"] == []
            # the pages that list them all still answer (no 500 for anyone)
            assert stack.run("status", "000.00.17.H19-291126-9003").returncode == 0
            assert stack.run("mark-sla").returncode == 0
        finally:
            db.dispose()
