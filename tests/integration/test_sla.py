"""SLA marking on a real SQLite database: breaches recorded once, cleared when healed,
notified once per hand-off and rule to a real HTTP receiver that checks the signature, through
the ledger (a notify job: retried, dead after its attempts, replayable)."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from integrations.onestop.webhooks import verify_webhook
from tests.fakes import ListBell
from tests.handoff_cli import handoff
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import Handoff, Job, Lease, SlaBreach
from worker.service.admin.replay import dead_letters, replay
from worker.service.flow.sla import mark, stuck
from worker.service.jobs import sweeper
from worker.service.jobs.runner import run_job
from worker.service.ledger import leases
from worker.service.runtime import Runtime
from worker.settings import Settings

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
SECRET = Settings().notify_secret


@dataclass
class Receiver:
    """A local webhook receiver: verifies each signature, can answer 500 a few times."""

    url: str = ""
    fail_next: int = 0
    received: list[dict] = field(default_factory=list)  # verified and answered 2xx
    attempts: int = 0
    bad_signatures: int = 0
    raw_bodies: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            with rec.lock:
                rec.attempts += 1
                rec.raw_bodies.append(body)
                try:
                    payload = verify_webhook(SECRET, dict(self.headers.items()), body)
                except Exception:
                    rec.bad_signatures += 1
                    code = 401
                else:
                    if rec.fail_next > 0:
                        rec.fail_next -= 1
                        code = 500
                    else:
                        rec.received.append({"id": self.headers["webhook-id"], **payload})
                        code = 204
            self.send_response(code)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/sla"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'home' / 'handoff.db'}"
    upgrade(url)
    return url


def make_rt(url: str, home: Path, notify_url: str = "", **options: object) -> Runtime:
    """A runtime whose bell is a list; a retry is due at once (no backoff to wait out)."""
    settings = Settings(database_url=url, home=home, notify_url=notify_url,
                        backoff_base_seconds=0.0, **options)
    return build_runtime(settings=settings, db=Database(url), bell=ListBell())


def work(rt: Runtime, sweep: bool = False) -> None:
    """What the workers do: run every job rung (and what those ring in turn). With
    `sweep`, the beat's sweep first rings the rows due again (a retry)."""
    bell = rt.bell
    assert isinstance(bell, ListBell)
    if sweep:
        sweeper.sweep(rt)
    while rung := bell.take():
        for job_id in rung:
            run_job(rt, job_id)


def add_handoff(rt: Runtime, code: str, status: str, **kw: object) -> int:
    with rt.db.unit_of_work() as s:
        h = Handoff(dossier_code=code, direction="result_delivery", source_item_id=code,
                    status=status, ready_at=T0, citizen_name="Nguyễn Thị Hoa",
                    citizen_phone="0912345678", citizen_address="12 Lý Thường Kiệt",
                    order_number=f"{code}/R1", **kw)
        s.add(h)
        s.flush()
        return h.id


def open_rules(rt: Runtime) -> set[tuple[str, str]]:
    with rt.db.unit_of_work() as s:
        return {(r.dossier_code, r.rule) for r in stuck(s)}


def cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return handoff(tmp_path / "home", *args, database_url=url)


def test_breaches_are_recorded_notified_once_retried_after_500_and_cleared(
    tmp_path: Path, db_url: str, receiver: Receiver
) -> None:
    rt = make_rt(db_url, tmp_path / "home", receiver.url)
    waiting = add_handoff(rt, "H19-0001", "requested")
    add_handoff(rt, "H19-0002", "accepted", accepted_at=T0 + timedelta(minutes=10))
    failed = add_handoff(rt, "H19-0003", "delivery_failed", accepted_at=T0,
                         last_event_at=T0 + timedelta(hours=1))

    # Run 1, two hours in: two breaches, two notifications queued and rung; the receiver
    # answers 500 to the first POST.
    receiver.fail_next = 1
    r1 = mark(rt, T0 + timedelta(hours=2))
    assert (r1.opened, r1.queued) == (2, 2)
    assert open_rules(rt) == {("H19-0001", "not_accepted"), ("H19-0003", "delivery_failed")}
    work(rt)
    assert receiver.attempts == 2 and len(receiver.received) == 1

    # Run 2: nothing new to queue; the refused one is retried (the sweep rings it again)
    # and goes out now, the delivered one not again.
    r2 = mark(rt, T0 + timedelta(hours=3))
    assert (r2.opened, r2.queued) == (0, 0)
    work(rt, sweep=True)
    assert receiver.attempts == 3 and len(receiver.received) == 2

    # The failed delivery is delivered after all: final, its breach is cleared.
    with rt.db.unit_of_work() as s:
        h = s.get_one(Handoff, failed)
        h.status, h.final_at = "delivered", T0 + timedelta(hours=4)

    # Run 3, a day later: both waiting hand-offs missed the pickup limit.
    r3 = mark(rt, T0 + timedelta(hours=25))
    assert (r3.opened, r3.cleared, r3.queued) == (2, 1, 2)
    assert open_rules(rt) == {("H19-0001", "not_accepted"), ("H19-0001", "not_picked_up"),
                              ("H19-0002", "not_picked_up")}
    work(rt)
    again = mark(rt, T0 + timedelta(hours=26))
    assert (again.opened, again.queued, again.cleared) == (0, 0, 0)
    work(rt, sweep=True)
    assert receiver.attempts == 5

    got = [(n["handoff"]["dossierCode"], n["rule"]) for n in receiver.received]
    assert sorted(got) == sorted({*got}), "a hand-off and rule was notified twice"
    assert set(got) == {("H19-0001", "not_accepted"), ("H19-0003", "delivery_failed"),
                        ("H19-0001", "not_picked_up"), ("H19-0002", "not_picked_up")}
    assert receiver.bad_signatures == 0
    first = next(n for n in receiver.received if n["rule"] == "not_accepted")
    assert first["id"] == f"sla_{waiting}_not_accepted"
    assert first["handoff"]["orderNumber"] == "H19-0001/R1"
    assert first["handoff"]["status"] == "requested" and first["detail"]
    assert first["detectedAt"] == "2026-11-26T03:00:00Z"
    for body in receiver.raw_bodies:  # no personal data beyond the dossier code
        text = body.decode()
        assert "0912345678" not in text and "Hoa" not in text and "Lý Thường" not in text

    with rt.db.unit_of_work() as s:
        rows = s.scalars(select(SlaBreach)).all()
        assert all(b.notified_at is not None for b in rows)
        cleared = [b for b in rows if b.cleared_at is not None]
        assert [(b.handoff_id, b.rule) for b in cleared] == [(failed, "delivery_failed")]

    out = cli(tmp_path, db_url, "stuck")
    assert out.returncode == 0, out.stderr
    assert "H19-0001" in out.stdout and "H19-0002" in out.stdout
    assert "H19-0003" not in out.stdout and "+07:00" in out.stdout
    js = cli(tmp_path, db_url, "stuck", "--json")
    assert js.returncode == 0, js.stderr
    rows_json = json.loads(js.stdout)
    assert {(r["dossier_code"], r["rule"]) for r in rows_json} == open_rules(rt)
    assert rows_json[0]["rule"] == "not_picked_up"  # worse than not_accepted: listed first
    rt.close()


def test_a_breach_healed_and_broken_again_is_reopened_not_renotified(
    tmp_path: Path, db_url: str, receiver: Receiver
) -> None:
    rt = make_rt(db_url, tmp_path / "home", receiver.url)
    hid = add_handoff(rt, "H19-0010", "delivery_failed", accepted_at=T0, last_event_at=T0)
    assert mark(rt, T0 + timedelta(minutes=5)).queued == 1
    work(rt)
    for status, expect in (("out_for_delivery", "cleared"), ("delivery_failed", "reopened")):
        with rt.db.unit_of_work() as s:
            s.get_one(Handoff, hid).status = status
        result = mark(rt, T0 + timedelta(minutes=10))
        assert getattr(result, expect) == 1 and result.queued == 0
        work(rt, sweep=True)
    assert len(receiver.received) == 1 and receiver.attempts == 1
    assert open_rules(rt) == {("H19-0010", "delivery_failed")}
    rt.close()


def test_a_notification_refused_until_its_attempts_run_out_is_dead_and_replayed_once(
    tmp_path: Path, db_url: str, receiver: Receiver
) -> None:
    rt = make_rt(db_url, tmp_path / "home", receiver.url, max_attempts=3)
    hid = add_handoff(rt, "H19-0040", "requested")
    receiver.fail_next = 3
    assert mark(rt, T0 + timedelta(hours=2)).queued == 1
    work(rt)
    for _ in range(3):  # the sweep rings each retry; after the third try it is dead
        work(rt, sweep=True)
    assert receiver.attempts == 3 and receiver.received == []
    with rt.db.unit_of_work() as s:
        (letter,) = dead_letters(s)
        assert s.scalars(select(SlaBreach.notified_at)).all() == [None]
    assert (letter.kind, letter.handoff_id, letter.attempts) == ("notify", hid, 3)
    assert "3 lần thử" in letter.reason and "HTTP 500" in letter.reason

    assert mark(rt, T0 + timedelta(hours=3)).queued == 0  # dead is not forgotten: no twin
    (outcome,) = replay(rt, [letter.job_id], actor="ops")
    assert outcome.replayed
    work(rt)
    assert [n["id"] for n in receiver.received] == [f"sla_{hid}_not_accepted"]
    work(rt, sweep=True)
    assert receiver.attempts == 4 and receiver.bad_signatures == 0
    with rt.db.unit_of_work() as s:
        assert s.scalar(select(SlaBreach.notified_at)) is not None
        assert dead_letters(s) == []
    rt.close()


def test_no_url_no_notifications_and_a_held_lease_skips_the_run(
    tmp_path: Path, db_url: str
) -> None:
    rt = make_rt(db_url, tmp_path / "home")
    add_handoff(rt, "H19-0020", "needs_attention")
    with rt.db.unit_of_work() as s:  # another process holds a live SLA lease
        s.add(Lease(name="sla", holder="someone-else",
                    expires_at=datetime.now(UTC) + timedelta(minutes=1)))
    assert mark(rt, T0 + timedelta(minutes=1)).ran is False
    with rt.db.unit_of_work() as s:
        leases.release(s, "sla", holder="someone-else")
    result = mark(rt, T0 + timedelta(minutes=1))
    assert result.ran and result.opened == 1 and result.queued == 0
    with rt.db.unit_of_work() as s:
        assert s.scalars(select(SlaBreach.notified_at)).all() == [None]
        assert s.scalars(select(Job)).all() == []
    rt.close()


def test_mark_sla_cli_takes_a_clock_and_replay_cli_reports_each_outcome(
    tmp_path: Path, db_url: str
) -> None:
    rt = make_rt(db_url, tmp_path / "home")
    hid = add_handoff(rt, "H19-0030", "accepted", accepted_at=T0)
    with rt.db.unit_of_work() as s:
        job = Job(kind="push_status", handoff_id=hid, idempotency_key="k-30", state="dead",
                  attempts=12, last_error="HTTP 422")
        s.add(job)
        s.flush()
        job_id = job.id

    out = cli(tmp_path, db_url, "mark-sla", "--now", (T0 + timedelta(days=6)).isoformat())
    assert out.returncode == 0, out.stderr
    assert open_rules(rt) == {("H19-0030", "not_picked_up"), ("H19-0030", "not_delivered"),
                              ("H19-0030", "silent"), ("H19-0030", "push_failed")}
    assert cli(tmp_path, db_url, "mark-sla", "--now", "yesterday").returncode == 2

    out = cli(tmp_path, db_url, "replay", str(job_id), "999999")
    assert out.returncode == 2, out.stderr
    assert f"việc {job_id}: đã đưa vào hàng đợi chạy lại" in out.stdout
    assert "việc 999999: không có việc này" in out.stdout
    with rt.db.unit_of_work() as s:
        assert s.get_one(Job, job_id).state == "pending"
    again = cli(tmp_path, db_url, "replay", "--all-dead")
    assert again.returncode == 0 and "không có việc nào" in again.stdout
    assert cli(tmp_path, db_url, "replay").returncode == 2  # usage error: nothing given
    rt.close()


def test_a_status_the_onestop_refused_for_good_flags_the_handoff_until_replayed(db_url, tmp_path):
    """One-stop 422 (or attempts exhausted): the push is dead; the hand-off keeps its real
    delivery status and gets a 'push_failed' breach, cleared once the push goes through."""
    rt = make_rt(db_url, tmp_path / "home")
    hid = add_handoff(rt, "000.00.17.H19-261126-0009", "delivered", final_at=T0)
    with rt.db.unit_of_work() as s:
        job = Job(kind="push_status", handoff_id=hid, idempotency_key="push:pev_x",
                  state="dead", last_error="status: giá trị không hợp lệ (HTTP 422)")
        s.add(job)
        s.flush()
        job_id = job.id
    mark(rt, now=T0 + timedelta(minutes=5))
    assert open_rules(rt) == {("000.00.17.H19-261126-0009", "push_failed")}
    with rt.db.unit_of_work() as s:
        h = s.get_one(Handoff, hid)
        assert h.status == "delivered"  # where the parcel is stays true
        breach = s.scalar(select(SlaBreach).where(SlaBreach.handoff_id == hid))
        assert breach is not None and "HTTP 422" in breach.detail
        s.get_one(Job, job_id).state = "done"  # replayed and accepted since
    mark(rt, now=T0 + timedelta(minutes=10))
    assert open_rules(rt) == set()
