"""/ops/cod in-process: the month's fees per agency with the differing hand-offs first and a
link to each timeline, ops only, a bad month refused naming the field, and the CSV and XLSX
downloads (formulas from the feed never run)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest

from tests.web_app import Web, login
from worker.db.engine import Database
from worker.db.models import CodLedger, Handoff

pytestmark = pytest.mark.flows  # through the real app on a database

# the 3rd of a month at least five weeks back (the page judges "not paid" by the real
# clock), 09:00 in Vietnam; the month before it holds the fourth hand-off
_BACK = datetime.now(UTC) - timedelta(days=40)
AT = datetime(_BACK.year, _BACK.month, 3, 2, 0, tzinfo=UTC)
MONTH, EARLIER = f"{AT:%Y-%m}", f"{AT - timedelta(days=10):%Y-%m}"
HOSTILE = '=HYPERLINK("http://evil.invalid","x")<b id="injected">x</b>'


def _seed(db: Database) -> dict[str, int]:
    """Three fee hand-offs of MONTH: paid in full, collected and never paid, reported short;
    one of the month before. Dossier code -> id."""
    plan = {  # dossier: (collected, reported amount, remitted)
        "DS-PAID": (AT, None, AT + timedelta(days=2)),
        "DS-UNPAID": (AT, None, None),
        "DS-SHORT": (AT, 20_000, AT + timedelta(days=2)),
        "DS-EARLIER": (AT - timedelta(days=10), None, AT),
    }
    ids = {}
    with db.unit_of_work() as s:
        for n, (code, (collected, amount, remitted)) in enumerate(plan.items(), 1):
            h = Handoff(dossier_code=code, direction="result_delivery", source_item_id=f"i{n}",
                        agency_code="000.00.17.H19", agency_name=HOSTILE,
                        order_number=f"{code}/R1", cod_amount=25_000, status="delivered",
                        ready_at=AT - timedelta(days=12), final_at=collected)
            s.add(h)
            s.flush()
            s.add(CodLedger(handoff_id=h.id, collected_at=collected, collected_event=f"e{n}",
                            collected_amount=amount, remitted_at=remitted,
                            remitted_event=f"r{n}" if remitted else None,
                            remitted_amount=amount if remitted else None))
            ids[code] = h.id
    return ids


def test_the_page_lists_the_differing_first_with_links_to_their_timelines(web_app: Web) -> None:
    ids = _seed(web_app.db)
    assert login(web_app.client, "ops").status_code == 303
    page = web_app.client.get(f"/ops/cod?month={MONTH}")
    assert page.status_code == 200
    html = page.text
    order = [html.index(f'href="/ops/handoffs/{ids[c]}"')
             for c in ("DS-SHORT", "DS-UNPAID", "DS-PAID")]
    assert order == sorted(order) and "DS-EARLIER" not in html
    assert "Số tiền bưu điện báo khác số tiền thu hộ" in html
    assert "Đã thu tiền nhưng bưu điện chưa trả" in html
    assert "3 hồ sơ, 2 chênh lệch" in html
    assert 'id="injected"' not in html and "<b " not in html  # not markup: shown as text
    assert "&lt;b id=&#34;injected&#34;&gt;x&lt;/b&gt;" in html or \
        "&lt;b id=&quot;injected&quot;&gt;x&lt;/b&gt;" in html
    assert "DS-EARLIER" in web_app.client.get(f"/ops/cod?month={EARLIER}").text


def test_only_ops_see_it_and_a_bad_month_is_refused_naming_the_field(web_app: Web) -> None:
    desk = web_app.browser()
    login(desk, "desk")
    assert desk.get(f"/ops/cod?month={MONTH}").status_code == 403
    assert desk.get(f"/ops/cod.xlsx?month={MONTH}").status_code == 403
    login(web_app.client, "ops")
    for bad in ("2026-13", "tháng 11", "2026-11\x00"):
        refused = web_app.client.get("/ops/cod", params={"month": bad})
        assert refused.status_code == 400 and "Tháng" in refused.text, bad
    assert web_app.client.get("/ops/cod.csv", params={"month": "11/2026"}).status_code == 400


def test_the_csv_and_xlsx_list_exactly_the_month_and_run_no_formula(web_app: Web) -> None:
    _seed(web_app.db)
    login(web_app.client, "ops")
    got = web_app.client.get(f"/ops/cod.csv?month={MONTH}&agency=000.00.17.H19")
    assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
    assert f'filename="doi-soat-cod-{MONTH}.csv"' in got.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert [r[2] for r in rows[1:]] == ["DS-SHORT", "DS-UNPAID", "DS-PAID"]
    assert {r[1] for r in rows[1:]} == {"'" + HOSTILE}
    book = web_app.client.get(f"/ops/cod.xlsx?month={MONTH}")
    assert book.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(book.content))
    detail = [[c.value for c in r] for r in wb["Chi tiết"].iter_rows(min_row=2)]
    assert [r[2] for r in detail] == ["DS-SHORT", "DS-UNPAID", "DS-PAID"]
    cell = wb["Chi tiết"]["B2"]
    assert cell.value == HOSTILE and cell.data_type == "s" and cell.quotePrefix
    summary = [[c.value for c in r] for r in wb["Tổng hợp"].iter_rows()]
    assert ["000.00.17.H19", HOSTILE, 3, 75_000, 3, 70_000, 2, 45_000, 2] in summary
