"""An agency's SLA overrides apply to its own hand-offs only (the settings' limits to the
others)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.service.world import World
from worker.db.models import Handoff, SlaBreach
from worker.service.admin import agency_admin
from worker.service.flow.sla import MarkResult, limits_of, scan
from worker.service.ledger import uow

READY = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
STRICT, PLAIN = "000.00.01.H19", "000.00.17.H19"


def test_an_agency_override_judges_only_its_own_hand_offs(world: World) -> None:
    with uow.begin(world.rt) as s:
        agency_admin.save(s, world.rt.settings, {"code": STRICT,
                                                 "sla": {"deliver_within_days": 3}}, "ops",
                          adding=False)
        for n, code in enumerate((STRICT, PLAIN), 1):
            s.add(Handoff(dossier_code=f"{code}-201126-000{n}", direction="result_delivery",
                          source_item_id=f"i{n}", agency_code=code, status="in_transit",
                          order_number=f"{code}-201126-000{n}/R1", ready_at=READY,
                          accepted_at=READY, last_event_at=READY + timedelta(days=3)))
    assert world.rt.settings.sla_deliver_within_days == 5
    with uow.begin(world.rt) as s:  # four days on: late for the strict agency only
        scan(s, READY + timedelta(days=4), limits_of(world.rt.settings), MarkResult())
    with world.rt.db.unit_of_work() as s:
        late = s.execute(select(Handoff.agency_code, SlaBreach.rule).join(
            Handoff, Handoff.id == SlaBreach.handoff_id)).all()
    assert late == [(STRICT, "not_delivered")]
