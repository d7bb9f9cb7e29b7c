"""/metrics shows the carrier quota per account from the limiter's shared store: what workers
counted is what the web process serves (its own limiter on the same store); a store that
does not answer is up=0, and the other families are still served."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from integrations.quota.redis_bucket import RedisBucket
from worker.bootstrap import quota_limiter
from worker.db.engine import Database
from worker.service.agencies.quota import DatabaseBucket
from worker.service.views.metrics import render
from worker.settings import Settings

A, B = "ngsp:C0001", "lgsp:C0002"


def samples(text: str) -> dict[str, dict[str, float]]:
    """{sample name: {account: value}} (unlabelled samples under "")."""
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[s.labels.get("account", "")] = s.value
    return out


@pytest.mark.flows  # through the real app
def test_quota_counters_of_the_workers_reach_the_web_metrics(sqlite_db: Database, web_app):
    worker = DatabaseBucket(Database(sqlite_db.url), max_wait=30, margin=0.0)  # another process
    for _ in range(3):
        worker.acquire(A, 2)  # the second and third wait half a second each
    worker.acquire(B, 20)
    worker.throttled(B, 0.01)

    r = web_app.client.get("/metrics")
    assert r.status_code == 200
    m = samples(r.text)
    assert m["handoff_carrier_quota_up"] == {"": 1.0}
    assert m["handoff_carrier_requests_total"] == {A: 3.0, B: 1.0}
    assert m["handoff_carrier_quota_waits_total"] == {A: 2.0, B: 0.0}
    assert 0.9 <= m["handoff_carrier_quota_wait_seconds_total"][A] <= 1.1
    assert m["handoff_carrier_throttled_total"] == {A: 0.0, B: 1.0}
    assert "secret" not in r.text.lower()


class _Down:
    def usage(self):  # type: ignore[no-untyped-def]
        raise ConnectionError("redis is down")


def test_a_quota_store_that_does_not_answer_is_up_0_and_the_rest_is_served(sqlite_db):
    m = samples(render(sqlite_db, _Down()).decode())  # type: ignore[arg-type]
    assert m["handoff_carrier_quota_up"] == {"": 0.0}
    assert m["handoff_metrics_database_up"] == {"": 1.0}
    assert "handoff_carrier_requests_total" not in m


def test_production_shares_the_bucket_in_redis_with_a_redis_broker_else_in_the_database(
        sqlite_db: Database, tmp_path):
    redis_one = quota_limiter(Settings(home=tmp_path, broker_url="redis://127.0.0.1:6379/0"),
                              sqlite_db)
    assert isinstance(redis_one, RedisBucket)
    assert isinstance(quota_limiter(Settings(home=tmp_path), sqlite_db), DatabaseBucket)
    assert "password" not in repr(quota_limiter(
        Settings(home=tmp_path, broker_url="redis://:password@127.0.0.1:6379/0"), sqlite_db))
