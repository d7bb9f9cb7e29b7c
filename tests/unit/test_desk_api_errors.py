"""Desk API refusals: never a 500; `error` and `field` are wire names, `reason` Vietnamese."""

from __future__ import annotations

import json

import pytest

from tests.unit.desk_api_app import DeskApi, desk_api_fixture  # noqa: F401 (fixture)

PICKUPS = "/api/v1/pickups"


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer hpk_\u00e9\u00e9".encode("latin-1")},
])
def test_a_call_without_a_valid_token_is_401_in_vietnamese(desk_api: DeskApi,
                                                          headers: dict[str, object]) -> None:
    for r in (desk_api.client.post(PICKUPS, json={"dossierCodes": ["X"]}, headers=headers),
              desk_api.client.get(PICKUPS + "/pending", headers=headers),
              desk_api.client.post(PICKUPS + "/X/cancel", headers=headers)):
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"] == "unauthorized" and r.json()["field"] == "Authorization"
        assert "mã truy cập" in r.json()["reason"]


def test_two_authorization_headers_are_refused(desk_api: DeskApi) -> None:
    token = desk_api.ours["Authorization"]
    r = desk_api.client.get(PICKUPS + "/pending",
                            headers=[("Authorization", token), ("Authorization", token)])
    assert r.status_code == 401


def test_a_revoked_token_is_401_saying_it_was_revoked(desk_api: DeskApi) -> None:
    from worker.service.access import api_tokens

    assert desk_api.client.get(PICKUPS + "/pending", headers=desk_api.ours).status_code == 200
    with desk_api.db.unit_of_work() as s:
        api_tokens.revoke(s, "lai-vung")
    r = desk_api.client.get(PICKUPS + "/pending", headers=desk_api.ours)
    assert r.status_code == 401 and "thu hồi" in r.json()["reason"]


@pytest.mark.parametrize(("body", "field", "words"), [
    (b"not json", "body", "không phải JSON"),
    (b"[1]", "body", "đối tượng JSON"),
    (b"", "body", "đối tượng JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "body", "lồng nhau"),
    (b'{"agencyCode": "A"}', "dossierCodes", "thiếu dossierCodes"),
    (b'{"dossierCodes": []}', "dossierCodes", "không được để trống"),
    (b'{"dossierCodes": "000.00.17.H19-201126-0001"}', "dossierCodes", "danh sách"),
    (json.dumps({"dossierCodes": [f"c{i}" for i in range(501)]}).encode(), "dossierCodes",
     "tối đa 500"),
    (b'{"dossierCodes": [1]}', "dossierCodes[0]", "chuỗi ký tự"),
    (b'{"dossierCodes": ["a", "b", "c", "x\\ud800"]}', "dossierCodes[3]", "U+D800"),
    (b'{"dossierCodes": ["a", "x\\u0000"]}', "dossierCodes[1]", "NUL"),
    (b'{"dossierCodes": ["a", "x\\u0007y"]}', "dossierCodes[1]", "điều khiển"),
    (b'{"dossierCodes": ["a", "  "]}', "dossierCodes[1]", "thiếu mã hồ sơ"),
    (json.dumps({"dossierCodes": ["x" * 81]}).encode(), "dossierCodes[0]", "tối đa 80"),
    (b'{"dossierCodes": ["A"], "agencyCode": 5}', "agencyCode", "chuỗi ký tự"),
    (b'{"dossierCodes": ["A"], "agencyCode": "\\udc00"}', "agencyCode", "U+DC00"),
    (json.dumps({"dossierCodes": ["A"], "agencyCode": "x" * 41}).encode(), "agencyCode",
     "tối đa 40"),
    (b'{"dossierCodes": ["A"], "agency": "000.00.17.H19"}', "agency", "không có trường"),
])
def test_a_refused_body_is_422_naming_the_field(desk_api: DeskApi, body: bytes, field: str,
                                               words: str) -> None:
    r = desk_api.client.post(PICKUPS, content=body,
                             headers={**desk_api.ours, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.json()
    assert words in r.json()["reason"], r.json()
    assert r.json()["error"] in ("invalid_body", "invalid_json", "json_too_deep")


def test_a_body_over_one_megabyte_is_413(desk_api: DeskApi) -> None:
    body = json.dumps({"dossierCodes": ["x" * 70] * 15_000}).encode()
    r = desk_api.client.post(PICKUPS, content=body, headers=desk_api.ours)
    assert r.status_code == 413 and r.json()["field"] == "body", r.text


@pytest.mark.parametrize(("path", "field"), [
    ("/api/v1/pickups/x%00y/cancel", "code"),
    ("/api/v1/pickups/x%07y/cancel", "code"),
    ("/api/v1/pickups/" + "x" * 81 + "/cancel", "code"),
    ("/api/v1/pickups/%20/cancel", "code"),
])
def test_a_refused_cancel_code_is_422_never_500(desk_api: DeskApi, path: str,
                                                field: str) -> None:
    r = desk_api.client.post(path, headers=desk_api.ours)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and r.json()["error"] == "invalid_parameter"


def test_a_cancel_code_with_a_slash_is_answered_not_404(desk_api: DeskApi) -> None:
    r = desk_api.client.post("/api/v1/pickups/000.00.17.H19/bad/cancel", headers=desk_api.ours)
    assert r.status_code == 409 and r.json()["outcome"] == "refused", r.text


def test_a_cancel_body_is_checked_like_any_other(desk_api: DeskApi) -> None:
    r = desk_api.client.post("/api/v1/pickups/X/cancel", content=b'{"agencyCode": "\\u0000"}',
                             headers=desk_api.ours)
    assert r.status_code == 422 and r.json()["field"] == "agencyCode", r.text


@pytest.mark.parametrize("agency", ["x\x00y", "x\x1by", "x" * 41])
def test_a_refused_pending_agency_is_422(desk_api: DeskApi, agency: str) -> None:
    r = desk_api.client.get(PICKUPS + "/pending", params={"agency": agency},
                            headers=desk_api.everyone)
    assert r.status_code == 422 and r.json()["field"] == "agency", r.text


def test_a_cancel_code_with_a_newline_is_422_not_404(desk_api: DeskApi) -> None:
    r = desk_api.client.post("/api/v1/pickups/x%0Ay/cancel", headers=desk_api.ours)
    assert r.status_code == 422 and r.json()["field"] == "code", r.text


@pytest.mark.parametrize("query", ["?agencies=X", "?agency=A&agency=B", "?x%00=1"])
def test_an_unknown_or_repeated_query_parameter_is_422(desk_api: DeskApi, query: str) -> None:
    r = desk_api.client.get(PICKUPS + "/pending" + query, headers=desk_api.ours)
    assert r.status_code == 422 and r.json()["error"] == "invalid_parameter", r.text
    r = desk_api.client.post(PICKUPS + query, json={"dossierCodes": ["X"]},
                             headers=desk_api.ours)
    assert r.status_code == 422, r.text
