"""The real web app on a migrated SQLite database, with hand-offs of two agencies and tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.models import Handoff, Job, utcnow
from worker.service.access import api_tokens
from worker.settings import Settings
from worker.web.app import create_app

OURS, THEIRS = "000.00.17.H19", "000.00.18.H20"
WAITING, ORDERED, OTHER = ("000.00.17.H19-201126-0001", "000.00.17.H19-201126-0002",
                           "000.00.18.H20-201126-0003")
STREET = "Số 12, ấp Tân Thạnh"


@dataclass
class DeskApi:
    client: TestClient
    db: Database
    ours: dict[str, str]  # Authorization header of our agency's token
    everyone: dict[str, str]  # of an all-agency token


def _handoff(code: str, agency: str, name: str) -> Handoff:
    return Handoff(dossier_code=code, direction="result_delivery", source_item_id=code,
                   status="requested", ready_at=utcnow() - timedelta(hours=2),
                   agency_code=agency, citizen_name=name, citizen_phone="0912345678",
                   citizen_address=STREET, province_code="82", ward_code="30226",
                   order_number=f"{code}/R1")


@pytest.fixture(name="desk_api")
def desk_api_fixture(tmp_path: Path, sqlite_db: Database) -> Iterator[DeskApi]:
    with sqlite_db.unit_of_work() as s:
        rows = [_handoff(WAITING, OURS, "Nguyễn Thị Hồng"),
                _handoff(ORDERED, OURS, "Trần Văn An"),
                _handoff(OTHER, THEIRS, "Lê Thị Bình")]
        s.add_all(rows)
        s.flush()
        # already ordered: asking again answers already_ordered without ringing a broker
        s.add(Job(kind="post_order", handoff_id=rows[1].id,
                  idempotency_key=f"post:{ORDERED}/R1"))
        _, ours = api_tokens.create(s, "lai-vung", agency_code=OURS)
        _, everyone = api_tokens.create(s, "ops-tool", agency_code=None, all_agencies=True)
    rt = build_runtime(settings=Settings(home=tmp_path / "home", database_url=sqlite_db.url),
                       db=sqlite_db)
    with TestClient(create_app(rt), base_url="https://testserver") as client:
        yield DeskApi(client, sqlite_db, {"Authorization": f"Bearer {ours}"},
                      {"Authorization": f"Bearer {everyone}"})
