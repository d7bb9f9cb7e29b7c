"""Hand-offs stored with extreme dates (year 1, year 9999: as if stored before the input
side refused them) never break the ops side: every page answers 200 through the real app,
the SLA pass still records the normal rows' breaches, and the CLI reads them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text
from starlette.testclient import TestClient

from tests.handoff_cli import handoff
from tests.web_app import csrf, login, page_client
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import Handoff, Job, SlaBreach, StatusLogEntry, utcnow
from worker.service.access.users import add_user
from worker.service.flow.sla import mark
from worker.service.runtime import Runtime
from worker.service.views import ops_queries as oq
from worker.settings import Settings

FAR = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
EARLY = datetime(1, 1, 1, tzinfo=UTC)
PASSWORD = "ops-password-for-tests"


@dataclass
class Seeded:
    rt: Runtime
    home: Path
    normal_late: str  # a normal hand-off ready 3 days ago, not picked up: late
    far_job: int  # a dead ledger row of the hand-off ready in year 9999
    ids: dict[str, int]


def _handoff(code: str, status: str, ready_at: datetime, **kw: object) -> Handoff:
    return Handoff(dossier_code=code, direction="result_delivery", source_item_id=code,
                   status=status, ready_at=ready_at, agency_code="000.00.17.H19",
                   agency_name="UBND xã Lai Vung", citizen_name="Nguyễn Thị Hoa",
                   citizen_phone="0912345678", citizen_address="12 Lý Thường Kiệt",
                   order_number=f"{code}/R1", **kw)


def _seed(db: Database, home: Path) -> Seeded:
    """Normal hand-offs beside ones stored with year-1 and year-9999 dates, written through
    the ORM as a build without the input checks would have written them."""
    now = utcnow()
    rows = {
        "NORMAL-LATE": _handoff("NORMAL-LATE", "accepted", now - timedelta(days=3),
                                accepted_at=now - timedelta(days=3)),
        "NORMAL-DONE": _handoff("NORMAL-DONE", "delivered", now - timedelta(days=2),
                                final_at=now - timedelta(days=1)),
        "FAR-READY": _handoff("FAR-READY", "requested", FAR, created_at=FAR,
                              last_event_at=FAR),
        "EARLY-READY": _handoff("EARLY-READY", "in_transit", EARLY, created_at=EARLY,
                                accepted_at=EARLY, last_event_at=EARLY),
        "MIXED": _handoff("MIXED", "delivery_failed", EARLY, accepted_at=FAR,
                          last_event_at=FAR, updated_at=FAR),
        "FAR-DONE": _handoff("FAR-DONE", "delivered", now - timedelta(days=1), final_at=FAR),
        "ATTENTION": _handoff("ATTENTION", "needs_attention", FAR, updated_at=EARLY),
    }
    with db.unit_of_work() as s:
        s.add_all(rows.values())
        s.flush()
        far = rows["FAR-READY"]
        s.add_all([
            StatusLogEntry(handoff_id=far.id, dossier_code=far.dossier_code, source="webhook",
                           status="requested", occurred_at=FAR, recorded_at=FAR),
            StatusLogEntry(handoff_id=rows["EARLY-READY"].id, dossier_code="EARLY-READY",
                           source="feed", status="in_transit", occurred_at=EARLY,
                           recorded_at=EARLY),
            SlaBreach(handoff_id=rows["MIXED"].id, rule="silent", detail="cũ",
                      detected_at=FAR, notified_at=EARLY),
        ])
        job = Job(kind="post_order", handoff_id=far.id, idempotency_key="post:FAR-READY/R1",
                  state="dead", last_error="refused", next_attempt_at=FAR, created_at=EARLY,
                  updated_at=FAR)
        s.add(job)
        s.add(Job(kind="push_status", handoff_id=rows["EARLY-READY"].id,
                  idempotency_key="push:EARLY", state="pending", next_attempt_at=EARLY,
                  created_at=EARLY))
        s.flush()
        add_user(s, "ops1", PASSWORD, "ops")
        ids = {code: h.id for code, h in rows.items()}
        far_job = job.id
    rt = build_runtime(settings=Settings(database_url=db.url, home=home), db=db)
    return Seeded(rt, home, "NORMAL-LATE", far_job, ids)


@pytest.fixture
def seeded(tmp_path: Path, sqlite_db: Database) -> Seeded:
    return _seed(sqlite_db, tmp_path / "home")


@contextmanager
def _logged_in(rt: Runtime) -> Iterator[TestClient]:
    """Logged in as ops through the public login form (whatever the session store is)."""
    with page_client(rt) as c:
        r = login(c, "ops1", PASSWORD)
        assert r.status_code == 303, r.text
        yield c


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    with _logged_in(seeded.rt) as c:
        yield c


OPS_PAGES = ["/ops", "/ops/overview.json", "/ops/handoffs", "/ops/handoffs?page=2",
             "/ops/handoffs.csv", "/ops/handoffs.csv?unmasked=1", "/ops/search?q=FAR-READY",
             "/ops/search?q=EARLY", "/ops/search?q=0912345678", "/ops/dead", "/metrics"]


def test_every_ops_page_answers_200_with_extreme_stored_dates(client: TestClient,
                                                              seeded: Seeded) -> None:
    for path in OPS_PAGES + [f"/ops/handoffs/{i}" for i in seeded.ids.values()]:
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    # the extreme rows are listed, with their dates shown as dates, not hidden
    listing = client.get("/ops/handoffs").text
    assert "FAR-READY" in listing and "EARLY-READY" in listing
    assert "9999-12-31" in listing and "0001-01-01" in listing
    timeline = client.get(f"/ops/handoffs/{seeded.ids['FAR-READY']}").text
    assert "9999-12-31" in timeline
    csv_text = client.get("/ops/handoffs.csv").content.decode("utf-8-sig")
    assert "FAR-READY" in csv_text and "9999-12-31" in csv_text
    assert "NORMAL-LATE" in csv_text


def test_overview_json_counts_every_row_despite_extreme_dates(client: TestClient) -> None:
    body = client.get("/ops/overview.json").json()
    assert body["total"] == 7
    assert body["attention"] == 1 and body["dead"] == 1
    # the normal delivered row is a time; the one "delivered in year 9999" is no real time
    assert body["times"]["n"] >= 1


@pytest.mark.parametrize("raw", ["100000000000000000000000", "-1", "0",
                                 "9223372036854775808", "00000000000000000000001x"])
def test_out_of_range_handoff_id_is_404_not_500(client: TestClient, raw: str) -> None:
    r = client.get(f"/ops/handoffs/{raw}")
    assert r.status_code == 404, r.text[:300]
    assert "Không tìm thấy" in r.text


def test_largest_valid_id_that_does_not_exist_is_404(client: TestClient) -> None:
    assert client.get(f"/ops/handoffs/{2**63 - 1}").status_code == 404


@pytest.mark.parametrize("query", ["from=0001-01-01&to=9999-12-31", "from=9999-12-31",
                                   "to=0001-01-01", "from=2026-13-45", "from=-5&to=x",
                                   "page=-7", "page=99999999999999999999999",
                                   "status=%00&direction=%ff&agency=%00"])
def test_extreme_filters_answer_200_on_list_and_csv(client: TestClient, query: str) -> None:
    for path in ("/ops/handoffs", "/ops/handoffs.csv"):
        r = client.get(f"{path}?{query}")
        assert r.status_code == 200, (path, query, r.text[:300])


def test_date_filter_outside_the_window_is_named_in_vietnamese(client: TestClient) -> None:
    r = client.get("/ops/handoffs?from=0001-01-01&to=9999-12-31")
    assert "ngoài khoảng" in r.text  # the page says why the filter was not used as given
    # and the clamped filter still lists the rows stored with extreme dates
    assert "FAR-READY" in r.text and "EARLY-READY" in r.text


@pytest.mark.parametrize("query", ["q=%00", "q=ab%00cd", "q=%1b%5b31m"])
def test_search_with_nul_or_control_char_is_refused_with_a_reason(client: TestClient,
                                                                  query: str) -> None:
    r = client.get(f"/ops/search?{query}")
    assert r.status_code == 200, r.text[:300]
    assert "Không tìm được" in r.text and "ký tự" in r.text  # names the bad character


def test_search_with_encoded_surrogate_bytes_finds_nothing_without_error(
        client: TestClient) -> None:
    r = client.get("/ops/search?q=%ED%A0%80")  # what U+D800 would be; decodes to U+FFFD
    assert r.status_code == 200 and "Không tìm thấy hồ sơ nào" in r.text


def test_search_text_with_lone_surrogate_never_reaches_the_database() -> None:
    # A URL cannot carry a lone surrogate, but any caller of the search could.
    assert oq.clean_query("\ud800abc") == ("", oq.clean_query("\ud800")[1])
    assert "U+D800" in oq.clean_query("\ud800")[1]
    assert oq.clean_query("  000.00.17.H19 ") == ("000.00.17.H19", "")


def _dead_csrf(client: TestClient) -> str:
    return csrf(client.get("/ops/dead").text)


@pytest.mark.parametrize("job", [str(10**23), "-1", "0", "abc", "9223372036854775808"])
def test_replay_of_an_impossible_job_id_is_refused_clearly(client: TestClient,
                                                           job: str) -> None:
    r = client.post("/ops/dead/replay", data={"csrf": _dead_csrf(client), "job": job})
    assert r.status_code in (200, 400, 422), r.text[:300]
    assert "mã việc không hợp lệ" in r.text


def test_replay_of_a_real_dead_job_still_works_beside_an_impossible_one(
        client: TestClient, seeded: Seeded) -> None:
    r = client.post("/ops/dead/replay", data={
        "csrf": _dead_csrf(client), "job": [str(10**23), str(seeded.far_job)]})
    assert r.status_code == 200, r.text[:300]
    assert f"Việc #{seeded.far_job}: đã đưa vào hàng đợi chạy lại" in r.text


def test_sla_pass_records_normal_breaches_despite_extreme_rows(seeded: Seeded) -> None:
    result = mark(seeded.rt)
    assert result.ran
    with seeded.rt.db.unit_of_work() as s:
        rules = {(code, rule) for code, rule in s.execute(
            select(Handoff.dossier_code, SlaBreach.rule)
            .join(Handoff, Handoff.id == SlaBreach.handoff_id)
            .where(SlaBreach.cleared_at.is_(None)))}
    assert ("NORMAL-LATE", "not_picked_up") in rules
    assert ("NORMAL-LATE", "not_delivered") not in rules  # 3 days < 5 days
    # a row ready in year 1 is long late; its detail shows the stored date as it is
    assert ("EARLY-READY", "not_delivered") in rules
    assert ("MIXED", "delivery_failed") in rules


@pytest.mark.parametrize("now", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00",
                                 "0001-01-01T00:00:00+07:00"])
def test_sla_pass_with_extreme_now_does_not_crash(seeded: Seeded, now: str) -> None:
    moment = datetime.fromisoformat(now)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    assert mark(seeded.rt, moment).ran


def _cli(seeded: Seeded, *args: str) -> subprocess.CompletedProcess[str]:
    return handoff(seeded.home, *args, database_url=seeded.rt.db.url)


def test_cli_reads_and_marks_extreme_rows(seeded: Seeded) -> None:
    r = _cli(seeded, "mark-sla", "--now", "9999-12-31T23:59:59")
    assert r.returncode == 0 and "mới" in r.stdout, r.stderr
    r = _cli(seeded, "status", "FAR-READY")
    assert r.returncode == 0 and "9999-12-31" in r.stdout, r.stderr
    r = _cli(seeded, "status", "MIXED", "--json")
    assert r.returncode == 0 and '"dossier_code": "MIXED"' in r.stdout, r.stderr
    r = _cli(seeded, "stuck")
    assert r.returncode == 0 and "NORMAL-LATE" in r.stdout and "EARLY-READY" in r.stdout, r.stderr
    r = _cli(seeded, "log")
    assert r.returncode == 0 and "FAR-READY" in r.stdout and "EARLY-READY" in r.stdout, r.stderr


def test_cli_replay_refuses_impossible_job_ids_one_by_one(seeded: Seeded) -> None:
    r = _cli(seeded, "replay", "--", str(10**23), "-1", "0", str(seeded.far_job))
    assert r.returncode == 2, (r.stdout, r.stderr)  # some were refused
    assert "Traceback" not in r.stderr
    assert r.stdout.count("mã việc không hợp lệ") == 3
    assert f"✓ việc {seeded.far_job}: đã đưa vào hàng đợi chạy lại" in r.stdout


def _corrupt(seeded: Seeded, code: str) -> None:
    """A stored date no driver can read back (SQLite keeps whatever text it is given)."""
    with seeded.rt.db.unit_of_work() as s:
        s.execute(text("UPDATE handoffs SET ready_at = '10000-01-01 00:00:00', "
                       "updated_at = 'garbage' WHERE dossier_code = :c"), {"c": code})


def test_a_row_whose_date_cannot_be_read_is_left_out_and_the_rest_is_shown(
        client: TestClient, seeded: Seeded) -> None:
    _corrupt(seeded, "MIXED")
    _corrupt(seeded, "ATTENTION")
    for path in OPS_PAGES:
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    listing = client.get("/ops/handoffs").text
    assert "NORMAL-LATE" in listing and "FAR-READY" in listing and "MIXED" not in listing
    assert "NORMAL-LATE" in client.get("/ops/handoffs.csv").content.decode("utf-8-sig")
    assert client.get(f"/ops/handoffs/{seeded.ids['MIXED']}").status_code == 404


def test_sla_pass_skips_an_unreadable_row_and_records_the_others(seeded: Seeded) -> None:
    _corrupt(seeded, "MIXED")
    result = mark(seeded.rt)
    assert result.skipped == 1
    with seeded.rt.db.unit_of_work() as s:
        rules = {(code, rule) for code, rule, cleared in s.execute(
            select(Handoff.dossier_code, SlaBreach.rule, SlaBreach.cleared_at)
            .join(Handoff, Handoff.id == SlaBreach.handoff_id)) if cleared is None}
    assert ("NORMAL-LATE", "not_picked_up") in rules
    assert ("EARLY-READY", "not_delivered") in rules
    # the unreadable hand-off's open breach stays open: it was not judged, so not healed
    assert ("MIXED", "silent") in rules


def test_metrics_leave_out_only_what_cannot_be_read(client: TestClient,
                                                    seeded: Seeded) -> None:
    with seeded.rt.db.unit_of_work() as s:
        s.execute(text("INSERT INTO cursors (name, value, updated_at) VALUES "
                       "('onestop', '', 'garbage'), ('carrier', '', '2026-01-01 00:00:00')"))
        # a negative year: the oldest pending row's age cannot be computed at all
        s.execute(text("UPDATE jobs SET created_at = '-0001-01-01 00:00:00' "
                       "WHERE idempotency_key = 'push:EARLY'"))
    samples = {(m.name, tuple(sorted(m.labels.items()))): m.value
               for family in text_string_to_metric_families(client.get("/metrics").text)
               for m in family.samples}
    assert samples[("handoff_metrics_database_up", ())] == 1
    assert samples[("handoff_metrics_families_skipped", ())] == 1
    assert ("handoff_ledger_oldest_pending_age_seconds", ()) not in samples
    feeds = {dict(k[1])["feed"] for k in samples if k[0] == "handoff_feed_lag_seconds"}
    assert feeds == {"carrier"}  # the unreadable cursor alone is left out
    assert samples[("handoff_handoffs", (("status", "accepted"),))] == 1


def test_cli_log_and_status_take_extreme_arguments_without_a_traceback(seeded: Seeded) -> None:
    r = _cli(seeded, "log", "--since", "99999999999d", "--limit", str(10**23))
    assert r.returncode == 0 and "EARLY-READY" in r.stdout, r.stderr
    r = _cli(seeded, "log", "--since", "0001-01-01T00:00:00+07:00", "--limit", "-3")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    r = _cli(seeded, "status", os.fsdecode(b"FAR\xff"))  # bytes no text encoding can hold
    assert r.returncode == 2 and "U+DCFF" in r.stderr and "Traceback" not in r.stderr


def test_postgresql_pages_and_sla_pass_with_extreme_and_unreadable_rows(
        tmp_path: Path, pg_url: str) -> None:
    upgrade(pg_url)
    db = Database(pg_url)
    try:
        seeded = _seed(db, tmp_path / "home")
        with db.unit_of_work() as s:  # a value psycopg cannot turn into a datetime
            s.execute(text("UPDATE handoffs SET last_event_at = 'infinity' "
                           "WHERE dossier_code = 'MIXED'"))
        with _logged_in(seeded.rt) as client:
            for path in [*OPS_PAGES, "/ops/handoffs.csv?from=0001-01-01&to=9999-12-31",
                         f"/ops/handoffs/{10**23}", "/ops/search?q=a%00b"]:
                r = client.get(path)
                assert r.status_code in (200, 404), (path, r.status_code, r.text[:300])
            assert "NORMAL-LATE" in client.get("/ops/handoffs").text
            assert "Không tìm được" in client.get("/ops/search?q=a%00b").text
        result = mark(seeded.rt)
        assert result.skipped == 1  # MIXED: its last event cannot be read
        with db.unit_of_work() as s:
            opened = set(s.execute(select(Handoff.dossier_code, SlaBreach.rule).join(
                Handoff, Handoff.id == SlaBreach.handoff_id)).all())
        assert ("NORMAL-LATE", "not_picked_up") in opened
        assert ("EARLY-READY", "not_delivered") in opened
    finally:
        db.dispose()
