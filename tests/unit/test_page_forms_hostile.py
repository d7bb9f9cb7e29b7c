"""Page forms sent by hand: files in place of fields, NUL and odd text never give a 500."""

from __future__ import annotations

import pytest

from tests.web_app import csrf, login

pytestmark = pytest.mark.flows  # the pages through the real app


@pytest.mark.parametrize("path", ["/desk/pickups", "/desk/cancel"])
def test_a_file_sent_in_place_of_the_dossier_code_is_ignored_not_a_500(web_app, path) -> None:
    login(web_app.client, "desk")
    token = csrf(web_app.client.get("/desk").text)
    r = web_app.client.post(path, data={"csrf": token},
                            files={"code": ("x.txt", b"000.00.17.H19-201126-0001"),
                                   "codes_text": ("y.txt", b"000.00.17.H19-201126-0001")})
    assert r.status_code < 500, r.text


def test_a_file_sent_as_the_csrf_token_is_refused(web_app) -> None:
    login(web_app.client, "ops")
    r = web_app.client.post("/settings/dispatch", files={"csrf": ("c.txt", b"x")},
                            data={"agency_code": "000.00.17.H19", "mode": "desk"})
    assert r.status_code == 403


@pytest.mark.parametrize("code", ["000.00.17\x00H19", "000.00.17.H19\x1b[2J"])
def test_a_hostile_agency_code_on_the_settings_page_is_refused_in_vietnamese(
        web_app, code: str) -> None:
    login(web_app.client, "ops")
    token = csrf(web_app.client.get("/settings").text)
    r = web_app.client.post("/settings/dispatch",
                            data={"csrf": token, "agency_code": code, "mode": "desk"})
    assert r.status_code == 400 and "Mã đơn vị không hợp lệ" in r.text
