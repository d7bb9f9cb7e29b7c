"""The ops page "Đơn vị" on the real app: ops add, change, disable and enable agencies;
desk staff read the list without account details; credentials are never shown back."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from integrations.onestop.mapping import read_item
from tests.fakes import ListBell
from tests.onestop_items import numbered
from tests.web_app import add_staff, csrf, login, page_client
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import Agency, Handoff
from worker.domain.enums import EventSource, Route
from worker.domain.statuses import Status
from worker.service import agencies
from worker.service.flow.ingest import ingest_item
from worker.service.ledger import uow
from worker.service.runtime import Runtime
from worker.settings import Settings

pytestmark = pytest.mark.flows  # the pages through the real app

# long and random enough for the secrets rules off the embedded default (PostgreSQL runs)
MARKER = "MARKER-SECRET-7f3a-Qx4Rt8Vb3Nm6Kc1W"
CODE = "000.00.99.H19"  # not one of the agencies sqlite_db seeds
SENDER = {"name": "UBND xã Lai Vung", "tel": "02773000001", "email": "motcua@laivung.gov.vn",
          "address": "Số 1 đường 30/4", "province_code": "82", "ward_code": "30226"}


@dataclass
class Page:
    client: TestClient
    rt: Runtime
    bell: ListBell

    def form(self, path: str, to: str = "", **fields: Any) -> Any:
        """The form of the page at `path` sent (to its own path, or to `to`)."""
        token = csrf(self.client.get(path).text)
        return self.client.post(to or path.split("?")[0], data={"csrf": token, **fields})

    def row(self, code: str = CODE) -> Agency | None:
        with self.rt.db.unit_of_work() as s:
            found = s.get(Agency, code)
            if found is not None:
                s.expunge(found)
            return found


@pytest.fixture
def page(sqlite_db: Database, tmp_path: Path) -> Iterator[Page]:
    add_staff(sqlite_db)
    bell = ListBell()
    rt = build_runtime(Settings(home=tmp_path, database_url=sqlite_db.url), sqlite_db,
                       bell=bell)
    with page_client(rt) as client:
        yield Page(client, rt, bell)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def any_page(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """The page on SQLite, and on PostgreSQL when it runs (its driver refuses NUL in text
    parameters: what SQLite lets through must not reach it either)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("page")
        return
    url = request.getfixturevalue("pg_url")
    upgrade(url)
    db = Database(url)
    add_staff(db)
    bell = ListBell()
    rt = build_runtime(Settings(home=tmp_path, database_url=url), db, bell=bell)
    with page_client(rt) as client:
        yield Page(client, rt, bell)
    db.dispose()


def _add(page: Page, **changes: Any) -> Any:
    fields = {"code": CODE, **SENDER, "dispatch": "auto", "route": "lgsp",
              "customer_code": "C0042", "customer_key": f"{MARKER}-key",
              "secret_key": MARKER, "push_secret": f"{MARKER}-push",
              "sla_accept_within_minutes": "30", "enabled": "1", **changes}
    return page.form("/ops/agencies/new", **{k: v for k, v in fields.items() if v is not None})


def _no_marker(*texts: str) -> None:
    for text in texts:
        assert MARKER not in text


def test_ops_add_an_agency_with_its_account_and_never_see_the_credentials_again(
        page: Page, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    login(page.client, "ops")
    added = _add(page)
    assert added.status_code == 303, added.text
    assert added.headers["location"].startswith("/ops/agencies/edit?code=000.00.99.H19")
    shown = page.client.get(added.headers["location"])
    assert shown.status_code == 200
    assert "Đã thêm đơn vị." in shown.text and "C0042" in shown.text
    assert "B – qua nền tảng LGSP" in shown.text and "đã đặt" in shown.text
    # every password input is empty
    for tag in re.findall(r'<input type="password"[^>]*>', shown.text):
        assert 'value=""' in tag, tag
    listed = page.client.get("/ops/agencies")
    assert listed.status_code == 200 and CODE in listed.text and "C0042" in listed.text
    _no_marker(added.text, shown.text, listed.text, caplog.text)
    with page.rt.db.unit_of_work() as s:
        account = agencies.account_of(s, page.rt.settings, CODE)
        assert account is not None and account.route == Route.LGSP
        assert (account.customer_key, account.secret_key, account.push_secret) == (
            f"{MARKER}-key", MARKER, f"{MARKER}-push")
        record = agencies.get(s, CODE)
        assert record is not None and record.sla == {"accept_within_minutes": 30.0}


def test_an_update_with_blank_credentials_keeps_them_and_changes_what_was_given(
        page: Page) -> None:
    login(page.client, "ops")
    assert _add(page).status_code == 303
    edit = f"/ops/agencies/edit?code={CODE}"
    saved = page.form(edit, code=CODE, **{**SENDER, "tel": "0912345678"}, dispatch="desk",
                      route="lgsp", customer_code="C0042", customer_key="", secret_key="",
                      push_secret="", quota_per_second="5", sla_deliver_within_days="3")
    assert saved.status_code == 303, saved.text
    after = page.client.get(saved.headers["location"])
    assert "Đã lưu:" in after.text and "Số điện thoại" in after.text
    row = page.row()
    assert row is not None and (row.sender_tel, row.dispatch, row.quota_per_second) == (
        "0912345678", "desk", 5.0)
    assert row.sla == {"deliver_within_days": 3.0}  # the form's overrides replace the old
    with page.rt.db.unit_of_work() as s:
        account = agencies.account_of(s, page.rt.settings, CODE)
        assert account is not None and account.secret_key == MARKER
    _no_marker(after.text)


@pytest.mark.parametrize(("changes", "label"), [
    ({"tel": "12345"}, "Số điện thoại"),
    ({"route": "lgsp", "customer_code": "", "customer_key": "", "secret_key": ""}, "Tuyến"),
    ({"customer_key": ""}, "Mật khẩu tài khoản"),  # a customer code without its key
    ({"province_code": "99"}, "Mã tỉnh/thành (GSO)"),
    ({"sla_silent_hours": "-1"}, "Báo động khi không có tin quá"),
    ({"quota_per_second": "nhiều"}, "Hạn mức"),
    ({"name": "UBND\x00xã"}, "Tên đơn vị"),
    ({"dispatch": "fax"}, "Cách gọi bưu tá"),
    ({"secret_key": f"{MARKER}\x01"}, "Mật khẩu tài khoản"),
])
def test_a_bad_field_is_400_naming_the_field_and_nothing_is_stored(
        page: Page, changes: dict[str, str], label: str) -> None:
    login(page.client, "ops")
    r = _add(page, **changes)
    assert r.status_code == 400, r.text
    error = re.search(r'<p class="card error" id="error" role="alert">(.*?)</p>', r.text, re.S)
    assert error is not None and label in error.group(1), r.text[:3000]
    assert 'aria-invalid="true"' in r.text and 'class="field-error"' in r.text
    assert page.row() is None
    _no_marker(r.text)
    assert 'value="UBND xã Lai Vung"' in r.text or "name" in changes  # what was typed stays


def test_adding_an_existing_code_and_editing_an_unknown_one_are_refused(page: Page) -> None:
    login(page.client, "ops")
    assert _add(page).status_code == 303
    again = _add(page, name="Khác")
    assert again.status_code == 400 and "đã có" in again.text
    assert page.client.get("/ops/agencies/edit?code=KHONG.CO").status_code == 404
    token = csrf(page.client.get("/ops/agencies").text)
    ghost = page.client.post("/ops/agencies/edit", data={"csrf": token, "code": "KHONG.CO",
                                                         **SENDER})
    assert ghost.status_code == 404
    toggled = page.client.post("/ops/agencies/enabled",
                               data={"csrf": token, "code": "KHONG.CO", "enabled": "0"})
    assert toggled.status_code == 404


UNUSABLE_CODES = ["\x00", f"{CODE}\x00", "000.00\x01.99", "\x7f", "\x85", "A" * 41]


@pytest.mark.parametrize("code", UNUSABLE_CODES)
def test_a_code_that_cannot_name_an_agency_is_404_before_any_lookup(
        any_page: Page, code: str) -> None:
    """NUL, control characters, a lone surrogate or over 40 characters: "no such agency"
    (404, in Vietnamese) on every page that looks a code up, never a 500."""
    page = any_page
    login(page.client, "ops")
    assert _add(page).status_code == 303  # a real agency, untouched by all of this
    shown = page.client.get("/ops/agencies/edit", params={"code": code})
    assert shown.status_code == 404 and "Không có đơn vị này." in shown.text
    token = csrf(page.client.get("/ops/agencies").text)
    attempts = [("/ops/agencies/enabled", {"code": code, "enabled": "0"}),
                ("/ops/agencies/edit", {"code": code, **SENDER}),  # valid: would be saved
                ("/ops/agencies/edit", {"code": code, **SENDER, "tel": "12345"})]  # refused
    for path, data in attempts:
        r = page.client.post(path, data={"csrf": token, **data})
        assert r.status_code == 404 and "Không có đơn vị này." in r.text, (path, r.text)
    added = _add(page, code=code)  # adding: the field is named, as any bad field
    assert added.status_code == 400 and "Mã đơn vị" in added.text
    row = page.row()
    assert row is not None and row.enabled and row.sender_tel == SENDER["tel"]
    with page.rt.db.unit_of_work() as s:
        assert s.query(Agency).filter(Agency.code.like("%99%")).count() == 1


def test_disable_and_enable_take_up_the_hand_offs_that_waited(page: Page) -> None:
    login(page.client, "ops")
    assert _add(page, route="ngsp", customer_code="", customer_key="", secret_key="",
                push_secret="").status_code == 303
    edit = f"/ops/agencies/edit?code={CODE}"
    off = page.form(edit, "/ops/agencies/enabled", code=CODE, enabled="0")
    assert off.status_code == 303 and page.row().enabled is False  # type: ignore[union-attr]
    assert "Đã tắt đơn vị" in page.client.get(off.headers["location"]).text
    with uow.begin(page.rt) as s:  # an item of the disabled agency waits
        got = ingest_item(s, read_item(numbered(1, agency__code=CODE)), EventSource.ONESTOP_FEED,
                          page.rt.settings)
    with page.rt.db.unit_of_work() as s:
        assert s.get_one(Handoff, got.handoff_id).status == Status.NEEDS_ATTENTION
    listed = page.client.get("/ops/agencies")
    assert re.search(r'data-agency="000\.00\.99\.H19" class="off">.*?<td class="n">1</td>',
                     listed.text, re.S), listed.text
    page.bell.take()
    on = page.form(edit, "/ops/agencies/enabled", code=CODE, enabled="1")
    assert on.status_code == 303
    assert "1 hồ sơ đang chờ đơn vị này được xử lý tiếp" in page.client.get(
        on.headers["location"]).text
    with page.rt.db.unit_of_work() as s:
        assert s.get_one(Handoff, got.handoff_id).status == Status.REQUESTED
    assert page.bell.take()  # its post was rung after the commit


def test_an_agency_that_hand_offs_wait_for_is_listed_with_a_link_to_add_it(page: Page) -> None:
    with uow.begin(page.rt) as s:
        ingest_item(s, read_item(numbered(1, agency__code=CODE)), EventSource.ONESTOP_FEED,
                    page.rt.settings)
    login(page.client, "ops")
    listed = page.client.get("/ops/agencies")
    assert 'id="missing"' in listed.text
    assert "/ops/agencies/new?code=000.00.99.H19" in listed.text
    form = page.client.get("/ops/agencies/new?code=000.00.99.H19")
    assert 'name="code" value="000.00.99.H19"' in form.text
    page.bell.take()
    assert _add(page, route="ngsp", customer_code="", customer_key="", secret_key="",
                push_secret="").status_code == 303
    assert 'id="missing"' not in page.client.get("/ops/agencies").text
    assert page.bell.take()


def test_desk_staff_read_the_list_without_account_details_and_change_nothing(
        page: Page) -> None:
    login(page.client, "ops")
    assert _add(page).status_code == 303
    with TestClient(page.client.app, base_url=str(page.client.base_url),
                    follow_redirects=False) as desk:
        login(desk, "desk")
        listed = desk.get("/ops/agencies")
        assert listed.status_code == 200 and CODE in listed.text
        assert "C0042" not in listed.text and 'id="read-only"' in listed.text
        assert "/ops/agencies/edit" not in listed.text and "/ops/agencies/new" not in listed.text
        assert desk.get(f"/ops/agencies/edit?code={CODE}").status_code == 403
        assert desk.get("/ops/agencies/new").status_code == 403
        token = csrf(listed.text)
        for path, data in (("/ops/agencies/new", {"code": "X", **SENDER}),
                           ("/ops/agencies/edit", {"code": CODE, **SENDER, "tel": "0912345678"}),
                           ("/ops/agencies/enabled", {"code": CODE, "enabled": "0"})):
            assert desk.post(path, data={"csrf": token, **data}).status_code == 403
    row = page.row()
    assert row is not None and row.enabled and row.sender_tel == SENDER["tel"]


def test_forms_need_the_csrf_token_and_pages_need_a_login(page: Page) -> None:
    assert page.client.get("/ops/agencies").status_code == 303  # to the login page
    login(page.client, "ops")
    r = page.client.post("/ops/agencies/new", data={"code": CODE, **SENDER})
    assert r.status_code == 403 and page.row() is None


def test_the_pages_obey_the_content_security_policy(page: Page) -> None:
    login(page.client, "ops")
    assert _add(page).status_code == 303
    for path in ("/ops/agencies", "/ops/agencies/new", f"/ops/agencies/edit?code={CODE}"):
        html = page.client.get(path).text
        assert " style=" not in html and "<style" not in html, path
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert re.search(r' on[a-z]+=', html) is None, path
    assert page.client.get("/static/agencies.css").status_code == 200
