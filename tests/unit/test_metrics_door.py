"""/metrics through the real app: a bearer token when one is set, off (404) without one
outside the embedded default, computed at most once per cache interval whatever the
request rate, and never by counting the ledger's tables."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from tests.web_app import Web, open_web
from worker.db.engine import Database
from worker.db.models import Attempt, Handoff, Job, utcnow
from worker.secrets_check import secret_problems
from worker.settings import Settings
from worker.web.metrics_route import ScrapeCache

pytestmark = pytest.mark.flows  # /metrics through the real app on a database

TOKEN = "Xq7vN2pL9sT4wK8mR3cZ6bF1hJ5dG0yA-metrics"
# Settings off the embedded default; the runtime's database stays the test's SQLite file
# (create_app connects to nothing at start)
PG = "postgresql+psycopg://handoff@db.example/handoff"
COUNTED_TABLE = re.compile(r"\b(from|join)\s+(attempts|handoffs|sla_breaches)\b", re.I)


@pytest.fixture
def production(sqlite_db: Database, tmp_path: Path) -> Iterator[Web]:
    with open_web(sqlite_db, tmp_path, database_url=PG, metrics_token=TOKEN) as web:
        yield web


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_without_a_token_metrics_is_off_outside_the_embedded_default(
        sqlite_db: Database, tmp_path: Path) -> None:
    with open_web(sqlite_db, tmp_path, database_url=PG) as web:
        r = web.client.get("/metrics")
        unknown = web.client.get("/no-such-page")
    assert r.status_code == 404
    assert (r.text, r.headers["content-type"]) == (unknown.text, unknown.headers["content-type"])
    assert "handoff_" not in r.text


def test_the_embedded_default_keeps_metrics_open_for_the_demo(web_app: Web) -> None:
    r = web_app.client.get("/metrics")
    assert r.status_code == 200 and "handoff_handoffs" in r.text


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-of-the-same-kind-0123456789",
                                    f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "])
def test_a_set_token_is_required(production: Web, header: str | None) -> None:
    r = production.client.get("/metrics", headers={"authorization": header} if header else {})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "handoff_" not in r.text and TOKEN not in r.text


def test_the_token_opens_metrics(production: Web) -> None:
    r = production.client.get("/metrics", headers=_bearer(TOKEN))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "handoff_metrics_database_up 1.0" in r.text
    assert r.headers["cache-control"] == "no-store"


def test_a_set_token_is_required_on_the_embedded_default_too(sqlite_db: Database,
                                                             tmp_path: Path) -> None:
    with open_web(sqlite_db, tmp_path, metrics_token=TOKEN) as web:
        assert web.client.get("/metrics").status_code == 401
        assert web.client.get("/metrics", headers=_bearer(TOKEN)).status_code == 200


@pytest.mark.parametrize("value", ["short-token", "change-me-change-me-change-me-change-me",
                                   "demo-metrics-token-0123456789abcdefghij"])
def test_a_weak_token_stops_production_from_starting(value: str) -> None:
    problems = secret_problems(Settings(database_url=PG, metrics_token=value))
    assert [p.variable for p in problems if p.variable == "HANDOFF_METRICS_TOKEN"] == [
        "HANDOFF_METRICS_TOKEN"]
    assert all(value not in str(p) for p in problems)
    strong = secret_problems(Settings(database_url=PG, metrics_token=TOKEN))
    assert "HANDOFF_METRICS_TOKEN" not in [p.variable for p in strong]


def _statements(db: Database) -> list[str]:
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: seen.append(statement))
    return seen


def _add_attempts(db: Database, n: int) -> None:
    with db.unit_of_work() as s:
        h = Handoff(dossier_code=f"000.00.17.H19-011226-{n:04d}", direction="result_delivery",
                    source_item_id=f"item-{n}", status="accepted", ready_at=utcnow())
        s.add(h)
        s.flush()
        job = Job(kind="post_order", handoff_id=h.id, idempotency_key=f"post:{n}")
        s.add(job)
        s.flush()
        s.add_all(Attempt(job_id=job.id, number=i + 1, outcome="ok", duration_ms=40)
                  for i in range(n))


def test_a_scrape_counts_no_ledger_table(web_app: Web) -> None:
    """Totals are kept with the rows (triggers and deltas), so a scrape reads the totals and
    the oldest pending row, never COUNT(*) over attempts, hand-offs or breaches."""
    _add_attempts(web_app.db, 30)
    seen = _statements(web_app.db)
    r = web_app.client.get("/metrics")
    assert r.status_code == 200
    assert 'handoff_outbound_attempts_total{kind="post_order",outcome="ok",system="carrier"} ' \
           '30.0' in r.text
    assert 'handoff_outbound_call_seconds_bucket{kind="post_order",le="0.05",outcome="ok",' \
           'system="carrier"} 30.0' in r.text
    assert seen, "the scrape read nothing from this database"
    read_counted = [s for s in seen if COUNTED_TABLE.search(s) or "count(" in s.lower()]
    assert read_counted == []


def test_the_body_is_computed_once_per_interval_whatever_the_rate(
        sqlite_db: Database, tmp_path: Path) -> None:
    now = [1000.0]
    with open_web(sqlite_db, tmp_path, metrics_cache_seconds=15) as web:
        cache = web.client.app.state.metrics_cache = ScrapeCache(15, clock=lambda: now[0])
        first = web.client.get("/metrics").text
        _add_attempts(web.db, 3)  # a change the cached body does not show yet
        answers = [web.client.get("/metrics").text for _ in range(20)]
        threads = [threading.Thread(target=lambda: answers.append(
            web.client.get("/metrics").text)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert cache.computations == 1 and set(answers) == {first}
        now[0] += 15  # one interval later the next request computes it again
        fresh = web.client.get("/metrics").text
    assert cache.computations == 2
    assert 'kind="post_order",outcome="ok",system="carrier"} 3.0' in fresh


def test_concurrent_requests_share_the_one_computation_in_flight() -> None:
    entered, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def compute() -> bytes:  # the database read, held until every request waits
        calls.append(1)
        entered.set()
        release.wait(10)
        return b"body %d" % len(calls)

    async def scenario() -> list[bytes]:
        cache = ScrapeCache(ttl=15)
        tasks = [asyncio.create_task(cache.get(compute)) for _ in range(8)]
        while not entered.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)  # every other request is now waiting on the cache's lock
        release.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(scenario()) == [b"body 1"] * 8
    assert len(calls) == 1
