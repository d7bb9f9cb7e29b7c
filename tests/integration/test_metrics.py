"""/metrics after a short real run: values read from the database add up, behind the
scraper's token. The call latency histogram's bucket arithmetic on rows written directly
(no processes). On PostgreSQL, the kept totals agree with COUNT over the tables, after the
migration, after every kind of change, and with writers and folds running at once."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import httpx
from alembic import command
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text

from bench.pg_seed import seed_attempts
from tests.integration.flow import all_final, ledger_drained, wait_until
from worker.db import metric_counts
from worker.db.engine import Database
from worker.db.metric_counts import CALL_BUCKETS, bound_label
from worker.db.migrate import alembic_config, upgrade
from worker.db.models import Attempt, Handoff, Job, SlaBreach, utcnow
from worker.launch.stack import Stack
from worker.service.views.metrics import render
from worker.settings import Settings

CALLS = "handoff_outbound_call_seconds"
TOKEN = "tq4Wm8Zr2Lx6Pv0Nc3Hb7Ks1Dy5Gf9J-scraper"


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _histograms(m: dict[str, list[tuple[dict[str, str], float]]]) -> dict[tuple[str, ...], dict]:
    """Per (system, kind, outcome): {"buckets": {le: v}, "count": v, "sum": v}."""
    out: dict[tuple[str, ...], dict] = {}
    for suffix in ("_bucket", "_count", "_sum"):
        for lb, v in m.get(CALLS + suffix, []):
            h = out.setdefault((lb["system"], lb["kind"], lb["outcome"]), {"buckets": {}})
            if suffix == "_bucket":
                h["buckets"][lb["le"]] = v
            else:
                h[suffix[1:]] = v
    return out


def _timed_attempts(db: Database) -> dict[tuple[str, str], int]:
    with db.unit_of_work() as s:
        return {(k, o): n for k, o, n in s.execute(
            select(Job.kind, Attempt.outcome, func.count())
            .join(Job, Job.id == Attempt.job_id).where(Attempt.duration_ms.is_not(None))
            .group_by(Job.kind, Attempt.outcome)).all()}


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # ended meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_metrics_after_five_result_deliveries(tmp_path):
    # a token (the scraper's), and no cache: each read below is computed afresh
    env = {"HANDOFF_METRICS_TOKEN": TOKEN, "HANDOFF_METRICS_CACHE_SECONDS": "0"}
    with Stack(home=tmp_path / "home", extra_env=env) as stack:
        db = Database(f"sqlite:///{tmp_path / 'home' / 'handoff.db'}")
        # as `handoff demo` runs it: the worker rings the feed polls, tracking and sweeps
        # itself (`handoff worker --beat`, from a thread: no beat process of its own, not
        # even one forked by the worker), and the two simulators share one process
        stack.start_all(beat_in_worker=True, simulators_together=True)
        assert "beat" not in stack.procs
        assert set(stack.procs) == {"simulators", "web", "worker"}
        stack.onestop_admin("handoffs", {"count": 5, "type": "result_ready"})
        wait_until(db, all_final(5), 120, "5 hand-offs final", stack)
        # the pool's processes only: the beat is a thread
        pool = Settings.model_fields["worker_concurrency"].default
        assert len(_children(stack.procs["worker"].pid)) == pool
        ledger_drained(db, 60, stack)
        assert httpx.get(stack.web_url + "metrics", timeout=10).status_code == 401

        for _ in range(10):  # a late push-back may land between the reads: read again
            before = _timed_attempts(db)
            r = httpx.get(stack.web_url + "metrics", timeout=10,
                          headers={"authorization": f"Bearer {TOKEN}"})
            if _timed_attempts(db) == before:
                break
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        m = _samples(r.text)

        assert m["handoff_metrics_database_up"] == [({}, 1.0)]
        by_status = {labels["status"]: v for labels, v in m["handoff_handoffs"]}
        assert sum(by_status.values()) == 5
        assert by_status["delivered"] + by_status["returned"] == 5
        ledger = {labels["state"]: v for labels, v in m["handoff_ledger_rows"]}
        assert ledger == {"pending": 0, "dead": 0}
        assert m["handoff_ledger_oldest_pending_age_seconds"] == [({}, 0.0)]

        attempts = {(lb["kind"], lb["outcome"]): v
                    for lb, v in m["handoff_outbound_attempts_total"]}
        assert attempts[("post_order", "ok")] == 5  # one accepted post per hand-off
        assert attempts[("push_status", "ok")] > 5  # several statuses pushed back each
        systems = {(lb["kind"], lb["system"]) for lb, _ in m["handoff_outbound_attempts_total"]}
        assert ("post_order", "carrier") in systems and ("push_status", "onestop") in systems

        # Call latencies: one series per (kind, outcome) with timed attempts, from the ledger.
        hist = _histograms(m)
        assert {(k, o) for _, k, o in hist} == set(before), (hist, before)
        for (system, kind, outcome), h in hist.items():
            assert system == {"post_order": "carrier", "cancel_order": "carrier",
                              "push_status": "onestop"}[kind]
            assert h["count"] == before[(kind, outcome)]
            assert h["buckets"]["+Inf"] == h["count"]
            les = sorted(h["buckets"], key=float)
            assert les == ["0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf"]
            counts = [h["buckets"][le] for le in les]
            assert counts == sorted(counts)  # cumulative
            assert 0 < h["sum"] < 30 * h["count"]  # real HTTP calls to the local simulators
        assert hist[("carrier", "post_order", "ok")]["count"] == 5
        assert hist[("onestop", "push_status", "ok")]["count"] > 5

        lag = {labels["feed"]: v for labels, v in m["handoff_feed_lag_seconds"]}
        # one tracking feed per post-office account (the example agencies' two own accounts
        # and the default one)
        assert set(lag) == {"onestop-handoffs", "carrier-tracking", "ct:lgsp:C0021",
                            "ct:ngsp:C0101"}
        assert lag["onestop-handoffs"] < 30, lag  # polled every second in the stack

        breaches = {labels["rule"]: v for labels, v in m["handoff_sla_breaches_open"]}
        # Every rule is listed; a pass may have caught a transient failed delivery, so
        # only the shape is checked here (tests/integration/test_sla.py checks the values).
        assert set(breaches) >= {"not_accepted", "not_picked_up", "not_delivered", "silent",
                                 "delivery_failed", "needs_attention"}
        assert all(v >= 0 for v in breaches.values())
        db.dispose()


def test_call_histogram_bucket_arithmetic(sqlite_db: Database) -> None:
    """Bounds are inclusive (le), buckets cumulative, untimed tries left out, sum in seconds."""
    with sqlite_db.unit_of_work() as s:
        h = Handoff(dossier_code="000.00.17.H19-201126-0001", direction="result_delivery",
                    source_item_id="item-1", status="accepted", ready_at=utcnow())
        s.add(h)
        s.flush()
        jobs = {kind: Job(kind=kind, handoff_id=h.id, idempotency_key=f"{kind}:1")
                for kind in ("post_order", "cancel_order", "push_status")}
        s.add_all(jobs.values())
        s.flush()
        rows = [("post_order", "ok", ms) for ms in (10, 50, 51, 100, 400, 2500, 12000)]
        rows += [("post_order", "transient", 10000), ("post_order", "transient", None),
                 ("post_order", "ok", None),  # a skipped post: no call, no duration
                 ("cancel_order", "permanent", 0),
                 ("push_status", "exhausted", 700), ("push_status", "ok", 1000)]
        s.add_all(Attempt(job_id=jobs[kind].id, number=i + 1, outcome=outcome, duration_ms=ms)
                  for i, (kind, outcome, ms) in enumerate(rows))

    m = _samples(render(sqlite_db).decode())
    hist = _histograms(m)
    assert set(hist) == {("carrier", "post_order", "ok"), ("carrier", "post_order", "transient"),
                         ("carrier", "cancel_order", "permanent"),
                         ("onestop", "push_status", "exhausted"),
                         ("onestop", "push_status", "ok")}

    ok = hist[("carrier", "post_order", "ok")]
    # 10 50 | 51 100 | 400 | 2500 | 12000 against 0.05 0.1 0.25 0.5 1 2.5 5 10 +Inf
    assert ok["buckets"] == {"0.05": 2, "0.1": 4, "0.25": 4, "0.5": 5, "1.0": 5, "2.5": 6,
                             "5.0": 6, "10.0": 6, "+Inf": 7}
    assert ok["count"] == 7
    assert math.isclose(ok["sum"], (10 + 50 + 51 + 100 + 400 + 2500 + 12000) / 1000)

    transient = hist[("carrier", "post_order", "transient")]
    assert transient["buckets"]["5.0"] == 0 and transient["buckets"]["10.0"] == 1
    assert transient["count"] == 1 and math.isclose(transient["sum"], 10.0)

    cancel = hist[("carrier", "cancel_order", "permanent")]
    assert set(cancel["buckets"].values()) == {1} and cancel["sum"] == 0

    exhausted = hist[("onestop", "push_status", "exhausted")]
    assert exhausted["buckets"]["0.5"] == 0 and exhausted["buckets"]["1.0"] == 1
    assert hist[("onestop", "push_status", "ok")]["buckets"]["1.0"] == 1  # 1000 ms <= 1 s

    # the attempts counter counts every try, timed or not, and names the system
    attempts = {(lb["system"], lb["kind"], lb["outcome"]): v
                for lb, v in m["handoff_outbound_attempts_total"]}
    assert attempts[("carrier", "post_order", "ok")] == 8
    assert attempts[("carrier", "post_order", "transient")] == 2
    assert attempts[("onestop", "push_status", "exhausted")] == 1
    assert attempts[("carrier", "cancel_order", "exhausted")] == 0  # every pair is listed


def test_no_timed_attempts_no_histogram_series(sqlite_db: Database) -> None:
    m = _samples(render(sqlite_db).decode())
    assert m["handoff_metrics_database_up"] == [({}, 1.0)]
    assert _histograms(m) == {}


# --- the kept totals on PostgreSQL: what COUNT over the tables says, always ---------------

def _counted(db: Database) -> dict[str, dict]:
    """The families as the tables say, counted the way /metrics did before the totals."""
    with db.engine.connect() as c:
        def rows(sql: str) -> dict:
            return {tuple(r[:-1]) if len(r) > 2 else r[0]: r[-1] for r in c.execute(text(sql))}
        buckets = ", ".join(f"sum(CASE WHEN a.duration_ms <= {round(le * 1000)} THEN 1 ELSE 0 "
                            f"END)" for le in CALL_BUCKETS)
        calls = c.execute(text(f"SELECT j.kind, a.outcome, count(*), sum(a.duration_ms), "
                               f"{buckets} FROM attempts a JOIN jobs j ON j.id = a.job_id "
                               "WHERE a.duration_ms IS NOT NULL GROUP BY 1, 2")).all()
        return {
            "handoffs": rows("SELECT status, count(*) FROM handoffs GROUP BY 1"),
            "jobs": rows("SELECT state, count(*) FROM jobs GROUP BY 1"),
            "breaches": rows("SELECT rule, count(*) FROM sla_breaches WHERE cleared_at IS NULL "
                             "GROUP BY 1"),
            "attempts": rows("SELECT j.kind, a.outcome, count(*) FROM attempts a "
                             "JOIN jobs j ON j.id = a.job_id GROUP BY 1, 2"),
            "calls": {(k, o): (n, total / 1000, list(map(float, under)))
                      for k, o, n, total, *under in calls},
        }


def _served(db: Database) -> dict[str, dict]:
    """The same families as /metrics serves them (zeros dropped, as a COUNT has none)."""
    m = _samples(render(db).decode())

    def by(name: str, *labels: str) -> dict:
        out = {tuple(lb[x] for x in labels) if len(labels) > 1 else lb[labels[0]]: v
               for lb, v in m.get(name, [])}
        return {k: v for k, v in out.items() if v}

    hist = _histograms(m)
    return {
        "handoffs": by("handoff_handoffs", "status"),
        "jobs": {k: v for k, v in by("handoff_ledger_rows", "state").items()},
        "breaches": by("handoff_sla_breaches_open", "rule"),
        "attempts": by("handoff_outbound_attempts_total", "kind", "outcome"),
        "calls": {(k, o): (h["count"], round(h["sum"], 3),
                           [h["buckets"][bound_label(le)] for le in CALL_BUCKETS])
                  for (_, k, o), h in hist.items()},
    }


def _agree(db: Database) -> None:
    counted, served = _counted(db), _served(db)
    counted["jobs"] = {k: v for k, v in counted["jobs"].items() if k in ("pending", "dead")}
    counted["calls"] = {k: (n, round(s, 3), b) for k, (n, s, b) in counted["calls"].items()}
    assert served == counted


def test_kept_totals_agree_with_the_tables_on_postgresql(pg_url: str) -> None:
    """Rows stored before the totals existed are taken in by the migration; then inserts,
    status and state changes, cleared breaches and deletes move the totals as the tables."""
    command.upgrade(alembic_config(pg_url), "0010")
    seed_attempts(pg_url, 2000)  # 2,000 attempts, 1,000 ledger rows, 500 hand-offs, breaches
    upgrade(pg_url)
    db = Database(pg_url)
    try:
        _agree(db)
        with db.unit_of_work() as s:
            s.execute(text("UPDATE handoffs SET status = 'delivered' WHERE id % 7 = 0"))
            s.execute(text("UPDATE jobs SET state = 'dead' WHERE id % 11 = 0"))
            s.execute(text("UPDATE sla_breaches SET cleared_at = now() WHERE id % 3 = 0"))
            s.execute(text("UPDATE attempts SET outcome = 'exhausted', duration_ms = 50 "
                           "WHERE id % 13 = 0"))
            s.execute(text("DELETE FROM attempts WHERE id % 17 = 0"))
            job = s.scalars(select(Job).limit(1)).one()
            s.add_all(Attempt(job_id=job.id, number=100 + i, outcome="ok", duration_ms=ms)
                      for i, ms in enumerate((0, 50, 51, 100, 10000, 10001, None)))
            s.add(SlaBreach(handoff_id=job.handoff_id, rule="silent"))
        _agree(db)
        with db.unit_of_work() as s:  # changed and changed back in one transaction
            s.execute(text("UPDATE handoffs SET status = 'returned' WHERE id % 5 = 0"))
            s.execute(text("UPDATE handoffs SET status = 'accepted' WHERE id % 5 = 0"))
        _agree(db)
    finally:
        db.dispose()


def test_concurrent_writers_and_folds_lose_and_double_nothing(pg_url: str) -> None:
    """Deltas committed while folds run (from the web and the sweep at once) are taken
    exactly once: each fold sums what it deletes, under one lock."""
    upgrade(pg_url)
    seed_attempts(pg_url, 40)
    db = Database(pg_url)
    stop = threading.Event()
    errors: list[BaseException] = []
    with db.unit_of_work() as s:
        jobs = list(s.scalars(select(Job.id).limit(4)))

    def write(job_id: int) -> None:
        try:
            for i in range(60):
                with db.unit_of_work() as s:
                    s.add(Attempt(job_id=job_id, number=1000 + i, outcome="transient",
                                  duration_ms=i * 40))
                    s.execute(text("UPDATE jobs SET state = CASE WHEN state = 'pending' THEN "
                                   "'done' ELSE 'pending' END WHERE id = :j"), {"j": job_id})
        except BaseException as err:  # noqa: BLE001 - reported by the test below
            errors.append(err)

    def fold() -> None:
        try:
            while not stop.is_set():
                with db.unit_of_work() as s:
                    metric_counts.fold(s)
        except BaseException as err:  # noqa: BLE001 - reported by the test below
            errors.append(err)

    try:
        folders = [threading.Thread(target=fold) for _ in range(2)]
        writers = [threading.Thread(target=write, args=(j,)) for j in jobs]
        for t in folders + writers:
            t.start()
        for t in writers:
            t.join()
        stop.set()
        for t in folders:
            t.join()
        assert errors == []
        _agree(db)
    finally:
        stop.set()
        db.dispose()
