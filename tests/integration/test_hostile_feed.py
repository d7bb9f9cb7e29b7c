"""Hostile one-stop items on a real worker: they never stop the feed nor the valid items."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from tests.integration.flow import ledger_drained, wait_until
from tests.onestop_items import numbered
from worker.db.engine import Database
from worker.db.models import Cursor, Handoff
from worker.launch.stack import Stack
from worker.service.flow.feeds import ONESTOP_CURSOR


def _nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


# each: (the item, the wire field its refusal must name)
HOSTILE = [
    (numbered(1, dossierCode="000.00.17.H19-291126-\ud800"), "dossierCode"),
    (numbered(2, citizen__name="Nguyễn\x00Văn A"), "citizen.name"),
    (numbered(3, createdAt="9999-12-31T00:00:00+07:00"), "createdAt"),
    (numbered(4, createdAt="0001-01-01T00:00:00+07:00"), "createdAt"),
    (numbered(5, codAmount=1e30), "codAmount"),
    (numbered(6, codAmount=10**30), "codAmount"),
    (numbered(7, citizen__address="Ấp " * 40_000), "citizen.address"),
    (numbered(8, procedure__name="Cấp phép\x1b[2J"), "procedure.name"),
    (numbered(9, citizen__name=_nested(25)), "citizen.name"),
    (numbered(10, citizen__wardCode=["30226"]), "citizen.wardCode"),
]


def test_ten_hostile_items_before_five_valid_ones_never_stop_the_feed(tmp_path):
    with Stack(home=tmp_path / "home") as stack:
        db = Database(f"sqlite:///{tmp_path / 'home' / 'handoff.db'}")
        stack.start_simulators()
        stack.carrier_admin("faults", {"return_rate": 0.0, "pickup_fail_rate": 0.0})
        stack.onestop_admin("handoffs", {"items": [item for item, _ in HOSTILE]})
        valid = stack.onestop_admin("handoffs", {"count": 5, "type": "result_ready"})["items"]
        # the rest of start_all: starting the simulators again would leave these two running
        stack.migrate()
        stack.start_web()
        stack.start_worker()
        stack.start_beat()
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
