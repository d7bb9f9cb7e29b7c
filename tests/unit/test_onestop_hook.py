"""/hooks/onestop takes the item id by the feed's rule (integer ids too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from integrations.onestop.webhooks import signed_webhook_request
from tests.fakes import ListBell
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.settings import Settings
from worker.web.hooks import onestop_hook

ITEM = {
    "type": "result_ready", "dossierCode": "000.00.17.H19-201126-0001",
    "procedure": {"code": "1.004227", "name": "Cấp giấy phép xây dựng"},
    "agency": {"code": "000.00.17.H19", "name": "UBND xã Lai Vung"},
    "citizen": {"name": "Nguyễn Thị Hồng", "phone": "0912 345 678", "email": None,
                "address": "Số 12, ấp Tân Thạnh", "provinceCode": "82", "wardCode": "30226"},
    "codAmount": 0, "createdAt": "2026-11-26T09:15:00+07:00", "note": "",
}


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    url = f"sqlite:///{tmp_path / 'hook.db'}"
    upgrade(url)
    rt = build_runtime(settings=Settings(home=tmp_path, database_url=url), db=Database(url),
                       bell=ListBell())  # no broker in a unit test
    app = Starlette(routes=[Route("/hooks/onestop", onestop_hook, methods=["POST"])])
    app.state.runtime = rt
    return TestClient(app)


def _post(client: TestClient, item: dict, msg_id: str) -> tuple[int, dict]:
    secret = Settings().webhook_secret
    headers, body = signed_webhook_request(secret, item, msg_id=msg_id)
    r = client.post("/hooks/onestop", content=body, headers=headers)
    return r.status_code, r.json()


def test_integer_id_is_accepted_like_the_feed(client: TestClient) -> None:
    status, body = _post(client, {"id": 4711, **ITEM}, "msg_int")
    assert status == 200 and body["outcome"] != "duplicate", body


@pytest.mark.parametrize("bad", [None, "", "  ", True, 1.5, ["x"]])
def test_missing_or_unusable_id_is_422(client: TestClient, bad: object) -> None:
    item = {**ITEM} if bad is None else {"id": bad, **ITEM}
    status, body = _post(client, item, "msg_bad")
    assert status == 422 and body["field"] == "id", body
