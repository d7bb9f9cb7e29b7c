"""Result delivery end to end on real processes: simulators, Celery worker and beat, web."""

from __future__ import annotations

import httpx
import pytest

from integrations.onestop.webhooks import signed_webhook_request
from tests.integration.flow import (
    all_final,
    assert_each_status_reached_onestop_once,
    ledger_drained,
    wait_until,
)
from worker.db.engine import Database
from worker.launch.stack import Stack
from worker.settings import Settings

pytestmark = pytest.mark.spread  # each test starts its own stack


def _run_flow(stack: Stack, db: Database, n: int, *, twice: bool = False) -> None:
    stack.start_all()
    if twice:  # two workers and two beats: leases and row claims keep it exactly-once
        stack.start_worker("worker-2")
        stack.start_beat("beat-2")
    stack.carrier_admin("faults", {"return_rate": 0.3, "duplicate_event_rate": 0.2,
                                   "out_of_order_rate": 0.2, "unknown_code_rate": 0.1})
    stack.onestop_admin("handoffs", {"count": n, "type": "result_ready"})
    wait_until(db, all_final(n), 120, f"{n} hand-offs final", stack)
    ledger_drained(db, 60, stack)
    carrier = stack.carrier_admin("stats")
    assert carrier["orders"] == n and carrier["duplicates"] == 0
    assert_each_status_reached_onestop_once(db, stack)
    delivered = [d for d in stack.onestop_admin("events")["events"]
                 if d["status"] == "delivered"]
    for e in delivered:  # the one-stop marks those dossiers 'Đã trả kết quả'
        dossier = httpx.get(f"{stack.onestop_url}api/v1/dossiers/{e['dossierCode']}",
                            headers={"Authorization": "Bearer demo-onestop-key"}).json()
        assert dossier["status"] == 10


def test_result_delivery_on_the_embedded_default(tmp_path):
    with Stack(home=tmp_path / "home") as stack:
        db = Database(f"sqlite:///{tmp_path / 'home' / 'handoff.db'}")
        _run_flow(stack, db, 12)
        out = stack.run("log", "--status", "delivered", "--json")
        assert out.returncode == 0 and '"delivered"' in out.stdout


@pytest.mark.services
def test_result_delivery_on_redis_and_postgresql_with_two_workers_and_two_beats(
    tmp_path, pg_url, redis_url
):
    with Stack(home=tmp_path / "home", database_url=pg_url, broker_url=redis_url) as stack:
        db = Database(pg_url)
        try:
            _run_flow(stack, db, 12, twice=True)
        finally:
            db.dispose()


def test_lost_reply_never_makes_a_second_order(tmp_path):
    """The carrier creates the order and drops the reply to every first post."""
    with Stack(home=tmp_path / "home") as stack:
        db = Database(f"sqlite:///{tmp_path / 'home' / 'handoff.db'}")
        stack.start_all()
        stack.carrier_admin("faults", {"lose_first_reply": True})
        stack.onestop_admin("handoffs", {"count": 10, "type": "result_ready"})
        wait_until(db, all_final(10), 120, "10 hand-offs final", stack)
        stats = stack.carrier_admin("stats")
        assert stats["orders"] == 10 and stats["duplicates"] == 0
        per_order = stats["orders_by_number"].values()
        assert all(o["created"] == 1 and o["posts"] >= 2 for o in per_order)


def test_webhook_items_are_taken_once_and_bad_signatures_refused(tmp_path):
    with Stack(home=tmp_path / "home") as stack:
        db = Database(f"sqlite:///{tmp_path / 'home' / 'handoff.db'}")
        stack.start_simulators()
        stack.migrate()
        stack.start_web()
        item = stack.onestop_admin("handoffs", {"count": 1, "type": "result_ready"})["items"][0]
        secret = Settings().webhook_secret
        headers, body = signed_webhook_request(secret, item)
        url = stack.web_url + "hooks/onestop"
        first = httpx.post(url, headers=headers, content=body)
        again = httpx.post(url, headers=headers, content=body)
        assert first.status_code == 200 and first.json()["outcome"] == "created"
        assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
        bad = dict(headers, **{"webhook-signature": "v1,AAAA"})
        assert httpx.post(url, headers=bad, content=body).status_code == 401
        h2, b2 = signed_webhook_request(secret, {"no": "id"}, msg_id="msg_x")
        assert httpx.post(url, headers=h2, content=b2).status_code == 422
        with db.unit_of_work() as s:
            from sqlalchemy import func, select

            from worker.db.models import Handoff
            assert s.scalar(select(func.count()).select_from(Handoff)) == 1
