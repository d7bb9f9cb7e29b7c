"""One deployment for several agencies, on a real worker: each order goes by its agency's
route, account and sender block; a disabled agency's dossiers wait and go on once it is
enabled; the agencies' credentials (seeded with a marker) are never shown anywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from sqlalchemy import String, Text, inspect, select

from tests.integration.flow import all_final, wait_until
from tests.onestop_items import numbered
from tests.support.waits import log_tails, wait_for
from tests.web_app import add_staff, login
from worker.db.engine import Database
from worker.db.models import Base, Handoff, StatusLogEntry
from worker.launch.stack import EXAMPLE_AGENCIES, Stack

MARKER = "MARKER-SECRET-9c41"
LAI_VUNG, CAO_LANH, SO_TU_PHAP = "000.00.17.H19", "000.00.21.H19", "000.00.01.H19"
# agency -> (route, customer code, customer key the carrier saw) its orders must carry
EXPECTED = {LAI_VUNG: ("ngsp", "C0001", "demo-key"),
            CAO_LANH: ("lgsp", "C0021", "sim-caolanh-lgsp-consumer"),
            SO_TU_PHAP: ("ngsp", "C0101", "sim-sotuphap-ngsp-key")}


def _agencies_with_marker(tmp_path: Path) -> tuple[Path, dict]:
    """The example agencies, their secrets made to hold the marker."""
    data = json.loads(EXAMPLE_AGENCIES.read_text(encoding="utf-8"))
    for code in (CAO_LANH, SO_TU_PHAP):
        data[code]["secret_key"] = f"{code[-7:]}-{MARKER}-secret"
        data[code]["push_secret"] = f"push-{MARKER}-{code[-7:]}"
    path = tmp_path / "agencies.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path, data


def _items(start: int, per_agency: int, *agencies: str) -> list[dict]:
    names = {LAI_VUNG: "UBND xã Lai Vung", CAO_LANH: "UBND phường Cao Lãnh",
             SO_TU_PHAP: "Sở Tư pháp tỉnh Đồng Tháp"}
    out, n = [], start
    for code in agencies:
        for _ in range(per_agency):
            out.append(numbered(n, agency__code=code, agency__name=names[code]))
            n += 1
    return out


def _by_agency(db: Database) -> dict[str, list[Handoff]]:
    with db.unit_of_work() as s:
        rows = s.scalars(select(Handoff).order_by(Handoff.id)).all()
        s.expunge_all()
    found: dict[str, list[Handoff]] = {}
    for h in rows:
        found.setdefault(h.agency_code, []).append(h)
    return found


def _check_orders(stack: Stack, handoffs: list[Handoff], agency: dict, code: str) -> None:
    route, customer, key = EXPECTED[code]
    stats = stack.carrier_admin("stats")["orders_by_number"]
    for h in handoffs:
        seen = stats[h.order_number]
        assert (seen["route"], seen["customer_code"], seen["account"]) == (route, customer, key)
        body = stack.carrier_admin(f"orders/{h.order_number}")["body"]
        assert body["SenderTel"] == agency["tel"]  # the agency's own sender block
        assert body["SenderAddress"].startswith(agency["address"])
        assert body["SenderEmail"] == agency["email"]
        assert body["ReceiverName"] == h.citizen_name


def _wait_for(predicate, timeout: float, what: str, stack: Stack, db: Database) -> None:  # type: ignore[no-untyped-def]
    wait_for(lambda: predicate(_by_agency(db)), what, timeout,
             seen=lambda: f"logs: {log_tails(stack.home)}")


def test_agencies_on_two_routes_and_a_disabled_one_on_a_real_worker(tmp_path: Path) -> None:
    agencies_file, agencies = _agencies_with_marker(tmp_path)
    with Stack(home=tmp_path / "home", agencies_file=agencies_file) as stack:
        db = Database(f"sqlite:///{tmp_path / 'home' / 'handoff.db'}")
        try:
            stack.start_all()
            stack.carrier_admin("faults", {"return_rate": 0.0, "pickup_fail_rate": 0.0})
            off = stack.run("agency", "disable", SO_TU_PHAP)
            assert off.returncode == 0, off.stderr
            stack.onestop_admin("handoffs", {"items": _items(1, 2, LAI_VUNG, CAO_LANH,
                                                             SO_TU_PHAP)})

            def posted_or_waiting(found: dict[str, list[Handoff]]) -> bool:
                return (sum(len(found.get(c, [])) for c in EXPECTED) == 6
                        and all(h.accepted_at for c in (LAI_VUNG, CAO_LANH) for h in found[c])
                        and all(h.status == "needs_attention" for h in found[SO_TU_PHAP]))

            _wait_for(posted_or_waiting, 90, "two agencies posted, one waiting", stack, db)
            found = _by_agency(db)
            for code in (LAI_VUNG, CAO_LANH):
                _check_orders(stack, found[code], agencies[code], code)
            stats = stack.carrier_admin("stats")["orders_by_number"]
            assert not any(h.order_number in stats for h in found[SO_TU_PHAP])  # no courier
            with db.unit_of_work() as s:
                reasons = s.scalars(select(StatusLogEntry.reason_code).where(
                    StatusLogEntry.handoff_id.in_([h.id for h in found[SO_TU_PHAP]]),
                    StatusLogEntry.applied.is_(True))).all()
            assert reasons.count("agency_disabled") == 2
            shown = stack.run("agency", "show", SO_TU_PHAP)
            assert shown.returncode == 0 and "2" in shown.stdout, shown.stdout

            on = stack.run("agency", "enable", SO_TU_PHAP)
            assert on.returncode == 0, on.stderr
            assert "2" in on.stdout  # hand-offs taken up again
            _wait_for(lambda f: all(h.accepted_at for h in f[SO_TU_PHAP]), 60,
                      "the enabled agency's dossiers posted", stack, db)
            _check_orders(stack, _by_agency(db)[SO_TU_PHAP], agencies[SO_TU_PHAP], SO_TU_PHAP)
            wait_until(db, all_final(6), 120, "all six final", stack)
            assert stack.carrier_admin("stats")["orders"] == 6  # one order each, no more

            # A wrong key of Cao Lãnh's own (holding the marker): its next dossier needs a
            # person, and no error text anywhere repeats the key.
            wrong = json.dumps({"secret_key": f"wrong-{MARKER}"})
            changed = stack.run_input(wrong, "agency", "update", CAO_LANH,
                                      "--credentials-stdin")
            assert changed.returncode == 0, changed.stderr
            stack.onestop_admin("handoffs", {"items": _items(50, 1, CAO_LANH)})
            _wait_for(lambda f: len(f[CAO_LANH]) == 3
                      and f[CAO_LANH][-1].status == "needs_attention", 60,
                      "a refused key makes the dossier wait for a person", stack, db)
            _assert_marker_nowhere(stack, db)
        finally:
            db.dispose()


def _assert_marker_nowhere(stack: Stack, db: Database) -> None:
    """Logs of our processes, CLI output, pages, CSV, metrics and every stored text."""
    seen: dict[str, str] = {}
    for name in ("worker", "beat", "web"):
        seen[f"{name}.log"] = (stack.home / f"{name}.log").read_text(errors="replace")
    for args in (("agency", "list"), ("agency", "list", "--json"),
                 ("agency", "show", CAO_LANH), ("agency", "show", CAO_LANH, "--json"),
                 ("log", "--limit", "500"), ("log", "--json", "--limit", "500"),
                 ("stuck",), ("check",), ("status", "--json", "000.00.17.H19-291126-9050")):
        out = stack.run(*args)
        seen[" ".join(args)] = out.stdout + out.stderr
    add_staff(db)
    with db.unit_of_work() as s:
        ids = s.scalars(select(Handoff.id)).all()
    with httpx.Client(base_url=stack.web_url.rstrip("/"), follow_redirects=False) as web:
        assert login(web, "ops").status_code == 303
        pages = ["/ops", "/ops/handoffs", "/ops/handoffs.csv", "/ops/dead", "/ops/agencies",
                 f"/ops/agencies/edit?code={CAO_LANH}", "/settings", "/metrics",
                 *(f"/ops/handoffs/{i}" for i in ids)]
        for page in pages:
            r = web.get(page)
            assert r.status_code == 200, (page, r.status_code)
            seen[page] = r.text
    for table in Base.metadata.sorted_tables:
        texts = [c for c in table.columns if isinstance(c.type, String | Text)
                 and not (table.name == "agencies" and c.name == "credentials")]
        if not texts or not inspect(db.engine).has_table(table.name):
            continue
        with db.unit_of_work() as s:
            for row in s.execute(select(*texts)):
                seen[f"table {table.name}"] = seen.get(f"table {table.name}", "") + repr(row)
    leaks = {where: re.findall(rf".{{0,40}}{MARKER}.{{0,10}}", text)[:2]
             for where, text in seen.items() if MARKER in text}
    assert leaks == {}
    assert "đã đặt" in seen[f"agency show {CAO_LANH}"]  # said to be set, never shown
