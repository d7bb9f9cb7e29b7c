"""/openapi.json is kept true: every /api/ and /hooks/ route is in it and nothing else, and
real answers of the app, errors included, match the documented status codes and schemas."""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from starlette.routing import Route

from integrations.onestop.webhooks import sign_webhook, signed_webhook_request
from tests.unit.desk_api_app import (  # noqa: F401 (fixture)
    ORDERED,
    OTHER,
    THEIRS,
    DeskApi,
    desk_api_fixture,
)
from worker.settings import Settings

PICKUPS, CANCEL, PENDING, HOOK = ("/api/v1/pickups", "/api/v1/pickups/{code}/cancel",
                                  "/api/v1/pickups/pending", "/hooks/onestop")


def _documented(desk_api: DeskApi) -> dict[str, Any]:
    r = desk_api.client.get("/openapi.json")  # no token needed
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    return dict(r.json())


def test_every_api_and_hook_route_is_documented_and_nothing_else(desk_api: DeskApi) -> None:
    doc = _documented(desk_api)
    served = {
        (re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), method.lower())
        for route in desk_api.client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith(("/api/", "/hooks/"))
        for method in (route.methods or ()) if method != "HEAD"
    }
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert served == documented
    assert doc["openapi"].startswith("3.1")


def test_the_document_loads_as_openapi_with_every_operation_valid(desk_api: DeskApi) -> None:
    schema = schemathesis.openapi.from_dict(_documented(desk_api))
    operations = list(schema.get_all_operations())
    assert len(operations) == 5  # 3 desk calls, the one-stop hook, the carrier push hook
    for result in operations:
        result.ok()  # raises with the reason if an operation is malformed


def test_every_desk_error_status_is_documented_with_the_error_schema(desk_api: DeskApi) -> None:
    doc = _documented(desk_api)
    for path in (PICKUPS, CANCEL):
        assert {"200", "401", "403", "413", "422"} <= set(doc["paths"][path]["post"]["responses"])
    assert "409" in doc["paths"][CANCEL]["post"]["responses"]
    hook = doc["paths"][HOOK]["post"]
    assert {"200", "401", "413", "422"} <= set(hook["responses"])
    assert {p["name"] for p in hook["parameters"] if p["in"] == "header" and p["required"]} == {
        "webhook-id", "webhook-timestamp", "webhook-signature"}
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def _calls(api: DeskApi) -> list[tuple[str, str, Any]]:
    """(method, documented path, real answer) for each answer the desk API can give."""
    c, ours, every = api.client, api.ours, api.everyone
    huge = {**ours, "Content-Length": "2000000"}
    return [
        ("post", PICKUPS, c.post(PICKUPS, json={"dossierCodes": [ORDERED, OTHER]}, headers=ours)),
        ("post", PICKUPS, c.post(PICKUPS, json={"dossierCodes": ["x"]})),
        ("post", PICKUPS, c.post(PICKUPS, json={"dossierCodes": ["x"], "agencyCode": THEIRS},
                                 headers=ours)),
        ("post", PICKUPS, c.post(PICKUPS, content=b"{" + b" " * 10, headers=huge)),
        ("post", PICKUPS, c.post(PICKUPS, content=b'{"dossierCodes": ["\\ud800"]}',
                                 headers=ours)),
        ("post", CANCEL, c.post(f"{PICKUPS}/{OTHER}/cancel", headers=ours)),
        ("post", CANCEL, c.post(f"{PICKUPS}/x%00/cancel", headers=ours)),
        ("post", CANCEL, c.post(f"{PICKUPS}/x/cancel", json={"agencyCode": THEIRS},
                                headers=ours)),
        ("post", CANCEL, c.post(f"{PICKUPS}/x/cancel")),
        ("get", PENDING, c.get(PENDING, headers=ours)),
        ("get", PENDING, c.get(PENDING, headers=every)),
        ("get", PENDING, c.get(PENDING, params={"agency": THEIRS}, headers=ours)),
        ("get", PENDING, c.get(PENDING, params={"agency": "\x00"}, headers=every)),
        ("get", PENDING, c.get(PENDING)),
    ]


def _hook_calls(api: DeskApi) -> list[tuple[str, str, Any]]:
    c, secret = api.client, Settings().webhook_secret
    # a withdrawal of a dossier we never had: answered 200, nothing to push or ring
    withdrawal = {"id": "hof_doc_1", "type": "handoff_cancelled",
                  "dossierCode": "000.00.18.H20-201126-9999",
                  "agency": {"code": THEIRS, "name": ""}, "codAmount": 0,
                  "createdAt": "2026-11-26T10:00:00+07:00", "note": ""}
    headers, body = signed_webhook_request(secret, withdrawal, msg_id="msg_doc_1")
    not_object = b"[1]"
    return [
        ("post", HOOK, c.post(HOOK, content=body, headers=headers)),
        ("post", HOOK, c.post(HOOK, content=body, headers=headers)),  # duplicate
        ("post", HOOK, c.post(HOOK, json=withdrawal)),  # unsigned
        ("post", HOOK, c.post(HOOK, content=b"{}", headers={"Content-Length": "2000000"})),
        ("post", HOOK, c.post(HOOK, content=not_object,
                              headers=sign_webhook(secret, "msg_doc_2", not_object))),
    ]


@pytest.mark.parametrize("which", ["desk", "hook"])
def test_real_answers_match_the_documented_schemas(desk_api: DeskApi, which: str) -> None:
    doc = _documented(desk_api)
    schema = schemathesis.openapi.from_dict(doc)
    calls = _calls(desk_api) if which == "desk" else _hook_calls(desk_api)
    statuses = set()
    for method, path, response in calls:
        documented = doc["paths"][path][method]["responses"]
        assert str(response.status_code) in documented, (path, response.status_code,
                                                         response.text)
        schema[path][method.upper()].validate_response(response)
        statuses.add(response.status_code)
    expected = ({200, 401, 403, 409, 413, 422} if which == "desk" else {200, 401, 413, 422})
    assert statuses == expected
