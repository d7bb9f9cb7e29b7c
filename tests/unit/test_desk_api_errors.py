"""Desk API errors: `error` and `field` are wire names, `reason` is Vietnamese for people."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from worker.settings import Settings
from worker.web import api

TOKEN = "desk-token-for-tests"


@pytest.fixture
def client() -> TestClient:
    app = Starlette(routes=api.routes)
    app.state.runtime = SimpleNamespace(settings=Settings(desk_api_token=TOKEN))
    return TestClient(app)


def test_401_reason_is_vietnamese(client: TestClient) -> None:
    r = client.post("/api/v1/pickups", json={"dossierCodes": ["X"]},
                    headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert "mã truy cập" in r.json()["reason"]


@pytest.mark.parametrize(("body", "field", "words"), [
    (b"not json", "body", "không phải JSON"),
    (b"[1]", "body", "đối tượng JSON"),
    (b"", "body", "đối tượng JSON"),
    (b'{"agencyCode": "A"}', "dossierCodes", "thiếu dossierCodes"),
    (b'{"dossierCodes": []}', "dossierCodes", "không được để trống"),
    (b'{"dossierCodes": [1]}', "dossierCodes", "danh sách"),
    (b'{"dossierCodes": ["A"], "agencyCode": 5}', "agencyCode", "chuỗi ký tự"),
])
def test_422_reason_is_vietnamese(client: TestClient, body: bytes, field: str,
                                  words: str) -> None:
    r = client.post("/api/v1/pickups", content=body,
                    headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_body" and r.json()["field"] == field
    assert words in r.json()["reason"], r.json()
