"""The fee reconciliation (COD) report: per agency and month (Vietnam time), what was expected,
collected and remitted, the hand-offs that differ listed first. Read by /ops/cod, its CSV
and XLSX exports and `handoff cod report`.

A hand-off is in the report when a fee was expected (cod_amount > 0) or the carrier told a
fee event for it. Its month is that of its collection (code 6); not collected, of its
delivery; neither, of when the one-stop announced it (ready_at): a fee is reconciled in the
month the courier took it. Amounts are whole đồng. A collection the carrier reported
without an amount counts at the expected amount in the totals (the contract carries none), a
remittance without one at the amount collected (reported, else expected); neither is ever a
mismatch. A delivery without collection differs only after a grace period (grace_days).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from worker.db.models import CodLedger, Handoff
from worker.db.readable import read_rows
from worker.domain.cod import PROBLEM_VI, CodFacts, Problem, month_window, problems
from worker.domain.moments import local
from worker.domain.statuses import Status, status_label

ORDER = list(Problem)  # worst first
HEADER: list[object] = [
    "Mã cơ quan", "Cơ quan", "Mã hồ sơ", "Số đơn hàng", "Trạng thái",
    "Tiền thu hộ dự kiến (đồng)", "Đã thu lúc", "Số tiền báo đã thu", "Đã trả lúc",
    "Số tiền báo đã trả", "Chênh lệch"]
NOT_REPORTED = ""  # an amount the carrier did not report, in a cell


@dataclass(frozen=True)
class CodRow:
    """One hand-off's fee."""

    handoff_id: int
    agency_code: str
    agency_name: str
    dossier_code: str
    order_number: str
    status: str
    expected: int
    collected_at: datetime | None
    collected_amount: int | None
    remitted_at: datetime | None
    remitted_amount: int | None
    problems: tuple[Problem, ...]

    @property
    def problem_labels(self) -> list[str]:
        return [PROBLEM_VI[p] for p in self.problems]

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    def cells(self) -> list[object]:
        """The row as the CSV and XLSX have it (HEADER's columns)."""
        return [self.agency_code, self.agency_name, self.dossier_code, self.order_number,
                self.status_label, self.expected, local(self.collected_at),
                _amount(self.collected_amount), local(self.remitted_at),
                _amount(self.remitted_amount), "; ".join(self.problem_labels)]


@dataclass
class Totals:
    """An agency's month (or the whole report's): how many, and the sums in đồng."""

    agency_code: str
    agency_name: str
    handoffs: int = 0
    expected: int = 0
    collected: int = 0
    collected_n: int = 0
    remitted: int = 0
    remitted_n: int = 0
    differing: int = 0

    def add(self, r: CodRow) -> None:
        self.handoffs += 1
        self.expected += r.expected
        if r.collected_at is not None:
            self.collected_n += 1
            self.collected += _counted(r.collected_amount, r.expected)
        if r.remitted_at is not None:
            self.remitted_n += 1  # paid back what was collected, when it says no amount
            self.remitted += _counted(r.remitted_amount,
                                      _counted(r.collected_amount, r.expected))
        self.differing += bool(r.problems)


@dataclass(frozen=True)
class CodReport:
    month: str
    agency: str | None
    remit_days: float
    made_at: datetime
    rows: list[CodRow]  # the differing first, worst first
    totals: list[Totals] = field(default_factory=list)  # one per agency, by code

    @property
    def differing(self) -> list[CodRow]:
        return [r for r in self.rows if r.problems]

    @property
    def grand(self) -> Totals:
        out = Totals("", "Tổng cộng")
        for r in self.rows:
            out.add(r)
        return out


def _counted(reported: int | None, expected: int) -> int:
    return expected if reported is None else reported


def _amount(value: int | None) -> object:
    return NOT_REPORTED if value is None else value


def report(session: Session, month: str, *, now: datetime, remit_days: float,
           grace_days: float = 2.0, agency: str | None = None) -> CodReport:
    """The month's report (month 'YYYY-MM'; InvalidInput naming `month` otherwise), for one
    agency or all; `now` decides which remittances are overdue and which deliveries have
    waited past `grace_days` for their collection."""
    start, end = month_window(month)
    delivered_at = case((Handoff.status == Status.DELIVERED.value, Handoff.final_at))
    moment = func.coalesce(CodLedger.collected_at, delivered_at, Handoff.ready_at)
    stmt = (select(Handoff.id, Handoff.agency_code, Handoff.agency_name, Handoff.dossier_code,
                   Handoff.order_number, Handoff.status, Handoff.cod_amount,
                   CodLedger.collected_at, CodLedger.collected_amount, CodLedger.remitted_at,
                   CodLedger.remitted_amount, delivered_at)
            .outerjoin(CodLedger, CodLedger.handoff_id == Handoff.id)
            .where(or_(Handoff.cod_amount > 0, CodLedger.handoff_id.is_not(None)),
                   moment >= start, moment < end)
            .order_by(Handoff.agency_code, Handoff.dossier_code, Handoff.id))
    if agency:
        stmt = stmt.where(Handoff.agency_code == agency)
    rows = []
    for hid, code, name, dossier, number, status, expected, c_at, c_amt, r_at, r_amt, d_at in (
            read_rows(session, stmt, Handoff.id)):
        facts = CodFacts(expected or 0, status, c_at, c_amt, r_at, r_amt, d_at)
        rows.append(CodRow(hid, code, name, dossier, number or "", status, expected or 0,
                           c_at, c_amt, r_at, r_amt,
                           tuple(problems(facts, now, remit_days, grace_days))))
    rows.sort(key=lambda r: ORDER.index(r.problems[0]) if r.problems else len(ORDER))
    totals: dict[str, Totals] = {}
    for r in rows:
        totals.setdefault(r.agency_code, Totals(r.agency_code, r.agency_name)).add(r)
    return CodReport(month.strip(), agency or None, remit_days, now, rows,
                     [totals[k] for k in sorted(totals)])


def table(rep: CodReport) -> list[list[object]]:
    """The header and one line per hand-off, the differing first: the CSV's and the XLSX's
    detail sheet."""
    return [HEADER, *(r.cells() for r in rep.rows)]


TOTALS_HEADER: list[object] = [
    "Mã cơ quan", "Cơ quan", "Số hồ sơ", "Dự kiến thu (đồng)", "Số đã thu", "Đã thu (đồng)",
    "Số đã trả", "Đã trả (đồng)", "Số hồ sơ chênh lệch"]


def totals_table(rep: CodReport) -> list[list[object]]:
    """Per agency, then the whole report: the XLSX's summary sheet and the page's table."""
    return [TOTALS_HEADER, *([t.agency_code, t.agency_name, t.handoffs, t.expected,
                              t.collected_n, t.collected, t.remitted_n, t.remitted, t.differing]
                             for t in [*rep.totals, rep.grand])]
