"""One desk queue: the desk page, the desk API, `handoff pickup pending` and the settings
page's counts agree, and each hand-off shows in at most one of the desk's lists."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from simulators.onestop.data import AGENCIES
from tests.support import forked_cli
from tests.web_app import csrf, login, page_client, web_runtime
from worker.db.engine import Database
from worker.db.models import Handoff, Job
from worker.service.access import api_tokens
from worker.service.access.users import add_user
from worker.service.flow.desk import _request_one
from worker.service.flow.desk_queue import MAX_PENDING
from worker.service.runtime import Runtime
from worker.settings import AgencyConfig

DESK, AUTO = "000.00.17.H19", "000.00.21.H19"
PASSWORD = "password-for-tests"
T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)

# (name, status, post job state or None, cancel job state or None) -> where the desk lists it
CASES = [
    ("never-called", "requested", None, None, "waiting"),
    ("post-on-its-way", "requested", "pending", None, "ordered"),
    ("post-dead-corrected", "requested", "dead", None, "waiting"),
    ("accepted", "accepted", "done", None, "ordered"),
    ("courier-came-nothing-ready", "pickup_failed", "done", None, "ordered"),
    ("cancel-on-its-way", "requested", "done", "pending", "ordered"),
    ("post-refused", "needs_attention", "dead", None, None),
    ("invalid-item", "needs_attention", None, None, None),
    ("cancelled", "cancelled", "done", None, None),
    ("picked-up", "picked_up", "done", None, None),
]


def _seed(db: Database) -> dict[str, str | None]:
    """Every case in both agencies; returns dossier code -> the list it belongs in."""
    expected: dict[str, str | None] = {}
    with db.unit_of_work() as s:
        for a, agency in enumerate((DESK, AUTO)):
            for i, (name, status, post, cancel, where) in enumerate(CASES):
                code = f"{agency}-201126-{a}{i:03d}"
                h = Handoff(dossier_code=code, direction="result_delivery", source_item_id=code,
                            agency_code=agency, agency_name=f"Đơn vị {agency}",
                            procedure_name=name, citizen_name="Nguyễn Thị Hoa",
                            citizen_phone="0912345678", province_code="82", ward_code="30226",
                            status=status, order_number=f"{code}/R1",
                            ready_at=T0 + timedelta(hours=a, minutes=i),
                            accepted_at=T0 if status in ("accepted", "pickup_failed",
                                                         "picked_up") else None)
                s.add(h)
                s.flush()
                for kind, state in (("post_order", post), ("cancel_order", cancel)):
                    if state:
                        s.add(Job(kind=kind, handoff_id=h.id, state=state,
                                  idempotency_key=f"{kind}:{code}"))
                expected[code] = where
    return expected


@pytest.fixture
def app(sqlite_db: Database, tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    with sqlite_db.unit_of_work() as s:
        add_user(s, "ops", PASSWORD, "ops", full_name="Trần Vận Hành")
        add_user(s, "lan", PASSWORD, "desk", DESK, "Lê Một Cửa")
    rt = web_runtime(sqlite_db, tmp_path, agencies={
        DESK: AgencyConfig(name="UBND xã Lai Vung", dispatch="desk")})
    with page_client(rt) as client:
        yield client, rt


def _login(client: TestClient, username: str) -> None:
    client.cookies.clear()
    r = login(client, username, PASSWORD)
    assert r.status_code == 303, r.text


def _page_lists(html: str) -> dict[str, list[str]]:
    waiting, _, rest = html.partition('id="ordered"')
    ordered = rest.partition('id="by-code"')[0]
    rows = re.compile(r'<tr data-code="([^"]+)"')
    return {"waiting": rows.findall(waiting), "ordered": rows.findall(ordered)}


def _cli(rt: Runtime, agency: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HANDOFF_DATABASE_URL": rt.settings.resolved_database_url(),
           "HANDOFF_HOME": str(rt.settings.home)}
    args = ["pickup", "pending", "--json"] + (["--agency", agency] if agency else [])
    out = forked_cli.run(args, env, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def _cli_pending(rt: Runtime, agency: str | None) -> list[str]:
    return [r["dossier_code"] for r in json.loads(_cli(rt, agency).stdout)]


def _all_agency_token(rt: Runtime) -> dict[str, str]:
    with rt.db.unit_of_work() as s:
        _, token = api_tokens.create(s, "queue-test", agency_code=None, all_agencies=True)
    return {"Authorization": f"Bearer {token}"}


def test_every_door_lists_the_same_waiting_hand_offs(app) -> None:
    client, rt = app
    expected = _seed(rt.db)
    waiting = [c for c, where in expected.items() if where == "waiting"]
    ordered = {c for c, where in expected.items() if where == "ordered"}
    in_agency = {DESK: [c for c in waiting if c.startswith(DESK)],
                 AUTO: [c for c in waiting if c.startswith(AUTO)]}

    _login(client, "ops")
    lists = _page_lists(client.get("/desk").text)
    assert lists["waiting"] == waiting  # oldest first, desk agency's then the auto one's
    assert set(lists["ordered"]) == ordered
    assert not set(lists["waiting"]) & set(lists["ordered"])  # never in both
    shown = set(lists["waiting"]) | set(lists["ordered"])
    assert shown == {c for c, where in expected.items() if where}  # the rest in neither
    assert [i["dossierCode"] for i in client.get("/desk/pending.json").json()["items"]] == waiting

    settings_page = client.get("/settings").text
    counts = dict(re.findall(r'<tr data-agency="([^"]+)".*?<td class="n[^"]*">(\d+)</td>',
                             settings_page, re.DOTALL))
    assert counts == {**{code: "0" for code, _name, _province in AGENCIES},  # all declared
                      DESK: str(len(in_agency[DESK])), AUTO: str(len(in_agency[AUTO]))}

    _login(client, "lan")  # a desk clerk sees their own agency's share of the same lists
    mine = _page_lists(client.get("/desk").text)
    assert mine["waiting"] == in_agency[DESK]
    assert set(mine["ordered"]) == {c for c in ordered if c.startswith(DESK)}

    auth = _all_agency_token(rt)
    answer = client.get("/api/v1/pickups/pending", headers=auth).json()
    assert [i["dossierCode"] for i in answer["items"]] == waiting
    assert (answer["total"], answer["truncated"]) == (len(waiting), False)
    assert 'id="waiting-cut"' not in client.get("/desk").text
    api = client.get("/api/v1/pickups/pending", params={"agency": AUTO}, headers=auth).json()
    assert [i["dossierCode"] for i in api["items"]] == in_agency[AUTO]

    assert _cli_pending(rt, None) == waiting
    assert _cli_pending(rt, DESK) == in_agency[DESK]


def test_calling_the_courier_for_a_corrected_hand_off_moves_it_to_ordered(app) -> None:
    """A requested hand-off whose post is dead waits for the desk, marked as called before;
    calling again revives that post, and it moves to the ordered list (never both)."""
    client, rt = app
    expected = _seed(rt.db)
    (code,) = [c for c, w in expected.items() if c.startswith(DESK) and c.endswith("002")]
    _login(client, "lan")
    page = client.get("/desk").text
    row = page[page.index(f'<tr data-code="{code}"'):]
    assert "Lần gọi trước không thành công" in row[:row.index("</tr>")]
    with rt.db.unit_of_work() as s:  # what "Gọi bưu tá" does, short of ringing the broker
        outcome, job = _request_one(s, code, "lan", DESK)
    assert outcome.outcome == "ordered" and job is not None and job.state == "pending"
    lists = _page_lists(client.get("/desk").text)
    assert code in lists["ordered"] and code not in lists["waiting"]


def _unreadable(rt: Runtime, code: str) -> None:
    """A stored date no driver can read back (SQLite keeps whatever text it is given)."""
    with rt.db.unit_of_work() as s:
        s.execute(text("UPDATE handoffs SET ready_at = '10000-01-01 00:00:00' "
                       "WHERE dossier_code = :c"), {"c": code})


def test_a_row_that_cannot_be_read_is_left_out_at_every_door(app) -> None:
    client, rt = app
    expected = _seed(rt.db)
    waiting = [c for c, where in expected.items() if where == "waiting"]
    ordered = {c for c, where in expected.items() if where == "ordered"}
    broken = {waiting[0], sorted(ordered)[0]}
    for code in broken:
        _unreadable(rt, code)
    readable = [c for c in waiting if c not in broken]

    _login(client, "ops")
    r = client.get("/desk")
    assert r.status_code == 200, r.text[:300]
    lists = _page_lists(r.text)
    assert lists["waiting"] == readable and set(lists["ordered"]) == ordered - broken
    r = client.get("/desk/pending.json")
    assert r.status_code == 200
    assert [i["dossierCode"] for i in r.json()["items"]] == readable
    _login(client, "lan")
    assert client.get("/desk").status_code == 200

    r = client.get("/api/v1/pickups/pending", headers=_all_agency_token(rt))
    assert r.status_code == 200, r.text[:300]
    answer = r.json()
    assert [i["dossierCode"] for i in answer["items"]] == readable
    assert answer["total"] == len(waiting) and answer["truncated"]  # one is not shown

    assert _cli_pending(rt, None) == readable


def test_the_waiting_list_is_bounded_and_says_when_it_was_cut(app) -> None:
    client, rt = app
    extra = MAX_PENDING + 2
    with rt.db.unit_of_work() as s:
        s.add_all(Handoff(dossier_code=f"{DESK}-201126-9{i:04d}", direction="result_delivery",
                          source_item_id=f"bulk-{i}", agency_code=DESK, status="requested",
                          procedure_name="bulk", citizen_name="Nguyễn Thị Hoa",
                          citizen_phone="0912345678", province_code="82", ward_code="30226",
                          order_number=f"bulk-{i}/R1", ready_at=T0 + timedelta(seconds=i))
                  for i in range(extra))
    oldest = [f"{DESK}-201126-9{i:04d}" for i in range(MAX_PENDING)]

    answer = client.get("/api/v1/pickups/pending", headers=_all_agency_token(rt)).json()
    assert [i["dossierCode"] for i in answer["items"]] == oldest
    assert (answer["total"], answer["truncated"]) == (extra, True)

    _login(client, "lan")
    page = client.get("/desk").text
    assert _page_lists(page)["waiting"] == oldest
    assert f"Đang có {extra} hồ sơ chờ; trang chỉ hiện {MAX_PENDING} hồ sơ" in page
    refreshed = client.get("/desk/pending.json").json()
    assert len(refreshed["items"]) == MAX_PENDING and refreshed["truncated"]

    out = _cli(rt, DESK)
    assert [r["dossier_code"] for r in json.loads(out.stdout)] == oldest
    assert f"trên tổng số {extra}" in out.stderr


def test_a_clerk_is_told_of_another_agencys_dossier_as_of_an_unknown_one(app) -> None:
    client, rt = app
    expected = _seed(rt.db)
    theirs = next(c for c, where in expected.items() if c.startswith(AUTO) and where)
    unknown = f"{DESK}-201126-9999"
    _login(client, "lan")
    token = csrf(client.get("/desk").text)
    for action in ("/desk/pickups", "/desk/cancel"):
        said = []
        for code in (theirs, unknown):
            page = client.post(action, data={"csrf": token, "code": code}).text
            found = re.search(rf'<li [^>]*data-code="{re.escape(code)}"[^>]*>(.*?)</li>',
                              page, re.S)
            assert found, page[-2000:]
            said.append(" ".join(found.group(1).replace(code, "…").split()))
        assert said[0] == said[1], said
