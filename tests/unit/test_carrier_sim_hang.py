"""The carrier simulator's hang switch (`hang_dossiers`): a post of a listed dossier is held,
then refused with 503 and nothing created, and the client's port is noted (the chaos
scenario of poison work finds the process holding it by that port)."""

from __future__ import annotations

import time

from starlette.testclient import TestClient

from integrations.carriers.vnpost import wire
from simulators.carrier.app import create_app
from simulators.carrier.rules import SimConfig
from tests.unit.test_carrier_simulator import BODY


def test_a_hung_dossier_is_held_refused_and_noted_the_others_are_created():
    with TestClient(create_app(SimConfig())) as client:
        got = client.post(f"/{wire.TOKEN_PATH}", data={"grant_type": "client_credentials"},
                          auth=("demo-key", "demo-secret")).json()["access_token"]
        auth = {"Authorization": f"Bearer {got}"}
        dossier = BODY["OrderNumber"].rpartition("/")[0]
        client.post("/_admin/faults", json={"hang_dossiers": [dossier], "hang_s": 0.3})
        started = time.monotonic()
        held = client.post(f"/{wire.POST_PATH}", json=BODY, headers=auth)
        assert held.status_code == 503 and time.monotonic() - started >= 0.3
        other = {**BODY, "OrderNumber": "000.00.17.H19-201126-0002/R1"}
        assert client.post(f"/{wire.POST_PATH}", json=other, headers=auth).json()["Status"] == 100
        stats = client.get("/_admin/stats").json()
        assert list(stats["orders_by_number"]) == [other["OrderNumber"]]
        assert [(h["order"], h["client_port"]) for h in stats["hung_posts"]] == [
            (BODY["OrderNumber"], 50000)]  # the test client's port
