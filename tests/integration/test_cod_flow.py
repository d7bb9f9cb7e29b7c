"""Fee reconciliation end to end on real processes: the carrier simulator's feed brings the
collection (code 6) and remittance (code 8) of every fee, but never pays one back and reports
another short; `handoff cod report` (table, CSV, XLSX read back with openpyxl) lists exactly
those two as differing, and the SLA pass puts the unpaid one on the late list."""

from __future__ import annotations

import csv
import io
import json
import signal
from datetime import timedelta

import openpyxl
from sqlalchemy import func, select

from tests.onestop_items import numbered
from tests.support.waits import log_tails, wait_for
from worker.db.engine import Database
from worker.db.models import CodLedger
from worker.domain.cod import PROBLEM_VI, Problem
from worker.domain.moments import to_vn
from worker.launch.stack import Stack

FEE, SHORT_BY = 25_000, 5_000


def _fees(db: Database) -> tuple[int, int]:
    """(collections, remittances) recorded so far."""
    try:
        with db.unit_of_work() as s:
            return (s.scalar(select(func.count(CodLedger.collected_at))) or 0,
                    s.scalar(select(func.count(CodLedger.remitted_at))) or 0)
    except Exception:  # the database is not there yet: nothing seen
        return 0, 0


def test_a_missing_remittance_and_a_short_amount_are_what_the_report_lists(tmp_path) -> None:
    with Stack(home=tmp_path / "home") as stack:
        db = Database(f"sqlite:///{tmp_path / 'home' / 'handoff.db'}")
        stack.start_all()
        # the dossiers known beforehand, the simulator's switches set before any exists: the
        # feed cannot bring a fee before its switch is on
        fees = [numbered(n, codAmount=FEE) for n in range(1, 5)]
        items = [*fees, *(numbered(n, codAmount=0) for n in range(5, 9))]
        unpaid, short = (f"{i['dossierCode']}/R1" for i in fees[:2])
        stack.carrier_admin("faults", {
            "return_rate": 0.0, "pickup_fail_rate": 0.0, "cod_amount_in_feed": True,
            "cod_unremitted": [unpaid], "cod_reported": {short: FEE - SHORT_BY}})
        stack.onestop_admin("handoffs", {"items": items})
        wait_for(lambda: _fees(db) == (len(fees), len(fees) - 1),
                 "every fee collected, all but one paid back", 120,
                 seen=lambda: f"(collected, remitted) {_fees(db)}; {log_tails(stack.home)}")
        # what follows judges at a moment of the simulator's clock, days ahead: the beat's own
        # SLA pass (real time, every minute) would clear what `mark-sla --now` opens
        stack.kill("beat", signal.SIGTERM)
        stack.kill("worker", signal.SIGTERM)
        with db.unit_of_work() as s:
            collected = list(s.scalars(select(CodLedger.collected_at)))
        # judged 11 days after the last collection (the simulator's clock runs ahead)
        now = (max(collected) + timedelta(days=11)).isoformat()
        months = sorted({f"{to_vn(at) or at:%Y-%m}" for at in collected})  # Vietnam time

        rows, books = [], []
        for month in months:
            out = stack.run("cod", "report", "--month", month, "--format", "csv", "--now", now)
            assert out.returncode == 0, out.stderr
            rows += list(csv.reader(io.StringIO(out.stdout.lstrip("\ufeff"))))[1:]
            path = tmp_path / f"cod-{month}.xlsx"
            made = stack.run("cod", "report", "--month", month, "--format", "xlsx", "-o",
                             str(path), "--now", now)
            assert made.returncode == 0, made.stderr
            sheet = openpyxl.load_workbook(path)["Chi tiết"]
            books += [[c.value for c in r] for r in sheet.iter_rows(min_row=2)]
        expected = {short: PROBLEM_VI[Problem.AMOUNT_MISMATCH],
                    unpaid: PROBLEM_VI[Problem.NOT_REMITTED]}
        fees_by_order = {f"{i['dossierCode']}/R1" for i in fees}
        assert {r[3] for r in rows} == fees_by_order  # every fee hand-off, nothing else
        assert {r[3]: r[10] for r in rows if r[10]} == expected
        assert {r[3]: r[10] for r in books if r[10]} == expected
        assert {r[3] for r in books} == fees_by_order
        short_row = next(r for r in books if r[3] == short)
        assert short_row[7] == short_row[9] == FEE - SHORT_BY

        table = stack.run("cod", "report", "--month", months[0], "--now", now)
        assert table.returncode == 0 and "Đối soát tiền thu hộ" in table.stdout

        assert stack.run("mark-sla", "--now", now).returncode == 0
        late = json.loads(stack.run("stuck", "--json").stdout)
        assert [r["order_number"] for r in late if r["rule"] == "cod_not_remitted"] == [
            unpaid], late
