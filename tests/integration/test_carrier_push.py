"""Carrier status pushes, POST /hooks/carrier/{agency}, through the real web app (ASGI) on a
real database (SQLite, and PostgreSQL when it is running): verified with the agency's push
secret, deduplicated on the transaction id, applied by the same state machine as the feed,
one applied event per milestone whichever path told it first.

The post office's side is played by simulators/carrier/push.py (body, headers, HMAC) and,
for the feed, by one fake account per customer code whose feed goes through the real wire
parser and the real feed poll (worker/service/flow/feeds.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from sqlalchemy import func, select, text
from starlette.testclient import TestClient

from integrations.carriers.vnpost.feed import parse_tracking_page
from integrations.carriers.vnpost.wire import STATUS_TABLE
from integrations.onestop.mapping import read_item
from simulators.carrier.push import push_body, signed_push
from tests.fakes import ListBell, run_rung
from tests.handoff_cli import handoff
from tests.onestop_items import numbered
from tests.service.fakes import FakeCarrier, FakeNotifier, FakeOnestop
from tests.web_app import add_staff, login
from worker.db.engine import Database
from worker.db.models import CarrierPushReceipt, Handoff, Job, StatusLogEntry
from worker.domain.enums import VN_TZ, EventSource, JobKind, Route
from worker.domain.model import FeedPage
from worker.ports.quota import NoLimit
from worker.service.admin import agency_admin
from worker.service.flow.feeds import poll_carrier
from worker.service.flow.ingest import ingest_item
from worker.service.ledger import uow
from worker.service.runtime import Factories, Runtime
from worker.settings import Settings
from worker.web.app import create_app

A17, A21, A05 = "000.00.17.H19", "000.00.21.H19", "000.00.05.H13"  # A05: no push secret
# long and random enough for the secrets rules off the embedded default (PostgreSQL runs)
SECRETS = {A17: "push-secret-of-lai-vung-17-Qx4Rt8Vb3Nm6Kc1W",
           A21: "push-secret-of-cao-lanh-21-Lp9Zs2Hd7Fj4Gt6Y"}
CODES = {A17: "C0017", A21: "C0021"}
ITEM = "EB123456785VN"
# an hour ago, to the second: what the push's "dd/mm/YYYY HH:MM:SS" can say
T0 = datetime.now(VN_TZ).replace(microsecond=0) - timedelta(hours=1)


class FeedAccount(FakeCarrier):
    """One post-office account: takes posts (FakeCarrier) and serves its tracking feed from
    `docs` through the real wire parser, as the gateway's RESTHeart pages would."""

    def __init__(self, customer_code: str) -> None:
        super().__init__()
        self.customer_code = customer_code
        self.docs: list[dict[str, Any]] = []

    def add(self, order_number: str, code: int, at: datetime, *, ms: int = 0) -> None:
        self.docs.append({
            "_id": {"$oid": f"{len(self.docs) + 1:024x}"}, "CustomerCode": self.customer_code,
            "OrderNumber": order_number, "ItemCode": ITEM,
            "EventTime": int(at.timestamp()) * 1000 + ms, "POSID": "871500",
            "StatusCode": code, "StatusMessage": STATUS_TABLE[code][1], "Notes": ""})

    def fetch_events(self, last_id: str | None, page_size: int = 1000) -> FeedPage:
        ids = [d["_id"]["$oid"] for d in self.docs]
        start = ids.index(last_id) + 1 if last_id in ids else 0
        return parse_tracking_page({"_embedded": {"rh:doc": self.docs[start:start + page_size]}},
                                   last_id)


@dataclass
class World:
    """The web app and its runtime on one database, with the agencies' accounts."""

    rt: Runtime
    client: TestClient
    bell: ListBell
    onestop: FakeOnestop
    accounts: dict[str, FeedAccount]
    db: Database

    def handoff(self, n: int, agency: str = A17) -> str:
        """A result delivery of `agency`, posted and accepted: its order number."""
        raw = numbered(n, agency__code=agency)
        with uow.begin(self.rt) as s:
            got = ingest_item(s, read_item(raw), EventSource.ONESTOP_FEED, self.rt.settings)
            assert got.handoff_id is not None, got
            number = s.get_one(Handoff, got.handoff_id).order_number
        self.work()
        assert number is not None and self.status(number) == "accepted"
        return number

    def work(self) -> None:
        """Run what was rung (posts, push-backs) until the bell is quiet."""
        run_rung(self.rt, self.bell)

    def push(self, agency: str, order_number: str, code: int, at: datetime, *,
             secret: str | None = None, transaction: str | None = None,
             **fields: Any) -> httpx.Response:
        """The post office pushing one status, signed with the agency's secret."""
        body = push_body(order_number, code, at, item_code=ITEM, **fields)
        headers, raw = signed_push(secret or SECRETS[agency], body, transaction=transaction)
        return self.client.post(f"/hooks/carrier/{agency}", content=raw, headers=headers)

    def status(self, order_number: str) -> str:
        with self.db.unit_of_work() as s:
            return s.scalar(select(Handoff.status).where(
                Handoff.order_number == order_number)) or ""

    def log(self, order_number: str, *, carrier_only: bool = True
            ) -> list[tuple[str, str | None, bool, str | None]]:
        """(source, status, applied, reason code) of the order's log rows, oldest first."""
        q = select(StatusLogEntry).where(StatusLogEntry.order_number == order_number)
        with self.db.unit_of_work() as s:
            rows = [(e.source, e.status, e.applied, e.reason_code)
                    for e in s.scalars(q.order_by(StatusLogEntry.id))]
        sources = (EventSource.CARRIER_FEED, EventSource.CARRIER_PUSH)
        return [r for r in rows if r[0] in sources or not carrier_only]

    def applied(self, order_number: str, status: str) -> list[str]:
        """The sources of the applied log rows of one status of an order."""
        return [src for src, st, ok, _ in self.log(order_number) if st == status and ok]

    def count(self, model: type) -> int:
        with self.db.unit_of_work() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0

    def push_backs(self, order_number: str) -> list[str]:
        """Statuses of the one-stop push-backs queued for the order, oldest first; a late
        milestone (contract section 3) as "<status> late"."""
        with self.db.unit_of_work() as s:
            jobs = s.scalars(select(Job).join(Handoff, Job.handoff_id == Handoff.id).where(
                Handoff.order_number == order_number, Job.kind == JobKind.PUSH_STATUS)
                .order_by(Job.id))
            return [j.payload["status"] + (" late" if j.payload.get("late") else "")
                    for j in jobs]


def _world(db: Database, home: Path) -> Iterator[World]:
    settings = Settings(home=home, database_url=db.url)
    with db.unit_of_work() as s:
        for agency, code in CODES.items():  # each its own account, with a push secret
            agency_admin.save(s, settings, {
                "code": agency, "route": "ngsp", "customer_code": code,
                "customer_key": f"key-{code}", "secret_key": f"secret-{code}-Vn9xQ2LrT7pKcW4mZ8sB",
                "push_secret": SECRETS[agency]}, "test", adding=False)
    accounts = {code: FeedAccount(code) for code in [*CODES.values(),
                                                     settings.carrier_customer_code]}
    bell, onestop = ListBell(), FakeOnestop()
    rt = Runtime(settings, db, factories=Factories(
        carriers={Route.NGSP: lambda _s, account, _l: accounts[account.customer_code]}),
        onestop=onestop, notifier=FakeNotifier(), bell=bell, limiter=NoLimit())
    with TestClient(create_app(rt), base_url="https://testserver",
                    follow_redirects=False) as client:
        yield World(rt, client, bell, onestop, accounts, db)


@pytest.fixture
def world(database: Database, tmp_path: Path) -> Iterator[World]:
    yield from _world(database, tmp_path)


@pytest.fixture
def sqlite_world(sqlite_db: Database, tmp_path: Path) -> Iterator[World]:
    """On the embedded database of `tmp_path`, which `handoff` run there opens too."""
    yield from _world(sqlite_db, tmp_path)


def _success(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {"code": "success", "transaction": body["transaction"]}
    return str(body["transaction"])


def test_a_valid_push_moves_the_hand_off_and_queues_the_push_back(world: World) -> None:
    order = world.handoff(1)
    r = world.push(A17, order, 4, T0, transaction="tx-0001")
    assert _success(r) == "tx-0001"
    assert world.status(order) == "in_transit"
    assert world.applied(order, "in_transit") == [EventSource.CARRIER_PUSH]
    assert world.push_backs(order) == ["accepted", "in_transit"]
    world.work()  # the one-stop is told, with the item code the push brought
    told = [p for p in world.onestop.pushes if p.status == "in_transit"]
    assert len(told) == 1 and told[0].item_code == ITEM
    assert told[0].occurred_at == T0.astimezone(UTC)
    assert world.count(CarrierPushReceipt) == 1


def test_no_valid_signature_is_401_the_same_for_everyone_and_stores_nothing(
        world: World) -> None:
    order = world.handoff(1)
    logged, jobs = world.count(StatusLogEntry), world.count(Job)
    body = push_body(order, 7, T0)
    headers, raw = signed_push(SECRETS[A17], body)
    wrong = {**headers, "ems-signature": signed_push("not-the-secret", body)[0]["ems-signature"]}
    no_signature = {k: v for k, v in headers.items() if k != "ems-signature"}
    other_body = signed_push(SECRETS[A17], {**body, "status_code": 4})[0]
    attempts = [
        (A17, wrong, raw), (A17, no_signature, raw), (A17, other_body, raw),
        (A17, headers, raw + b" "),  # the body changed after signing
        (A21, headers, raw),  # another agency's URL: its own secret is another
        ("000.99.99.H99", headers, raw),  # no such agency
        (A05, headers, raw),  # an agency without a push secret
        ("x" * 300, headers, raw),
        # codes that cannot name an agency: never looked up (PostgreSQL refuses NUL)
        ("%00", headers, raw), (f"{A17}%00", headers, raw), ("000.00%01.17.H19", headers, raw),
        (f"%20{A17}", headers, raw), ("%ED%A0%80", headers, raw), ("x" * 41, headers, raw),
    ]
    answers = set()
    for agency, h, b in attempts:
        r = world.client.post(f"/hooks/carrier/{agency}", content=b, headers=h)
        assert r.status_code == 401, (agency, r.text)
        answers.add(r.text)
    r = world.client.post(f"/hooks/carrier/{A17}", content=raw,
                          headers=[*headers.items(), ("ems-signature", "0" * 64)])
    assert r.status_code == 401  # two signatures: neither is taken
    assert len(answers) == 1  # whether the agency exists is not told
    assert json.loads(answers.pop())["error"] == "invalid_signature"
    assert world.status(order) == "accepted"
    assert (world.count(StatusLogEntry), world.count(Job)) == (logged, jobs)
    assert world.count(CarrierPushReceipt) == 0


def test_stored_credentials_that_do_not_open_are_401_as_an_unknown_agency(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """Not a 503: that would tell a stranger the agency exists and keep the carrier
    re-sending until ops fix the key. Ops learn it from an error line (the code only)."""
    order = world.handoff(1)
    unknown = world.push("000.99.99.H99", order, 7, T0, secret=SECRETS[A17])
    with world.db.unit_of_work() as s:  # sealed under a key the deployment no longer has
        s.execute(text("UPDATE agencies SET credentials = 'gAAAAA-not-a-fernet-token' "
                       "WHERE code = :code"), {"code": A17})
    caplog.clear()
    r = world.push(A17, order, 7, T0)  # rightly signed, with the secret we cannot read
    assert r.status_code == 401 and r.text == unknown.text
    errors = [rec.getMessage() for rec in caplog.records if rec.levelname == "ERROR"]
    assert len(errors) == 1 and A17 in errors[0] and "do not open" in errors[0]
    assert SECRETS[A17] not in caplog.text and "gAAAAA" not in caplog.text
    assert world.status(order) == "accepted" and world.count(CarrierPushReceipt) == 0


def test_a_re_sent_transaction_is_answered_success_again_and_applied_once(
        world: World) -> None:
    order = world.handoff(1)
    for _ in range(3):  # the carrier re-sends the same id until it hears "success"
        assert _success(world.push(A17, order, 3, T0, transaction="tx-same")) == "tx-same"
    assert world.status(order) == "picked_up"
    assert world.log(order) == [(EventSource.CARRIER_PUSH, "picked_up", True, "forward")]
    assert world.push_backs(order) == ["accepted", "picked_up"]
    assert world.count(CarrierPushReceipt) == 1


def test_pushes_out_of_order_never_move_a_hand_off_back(world: World) -> None:
    order = world.handoff(1)
    _success(world.push(A17, order, 7, T0 + timedelta(hours=1) - timedelta(minutes=5)))
    _success(world.push(A17, order, 4, T0))  # in transit, told after delivered
    assert world.status(order) == "delivered"
    assert world.log(order) == [
        (EventSource.CARRIER_PUSH, "delivered", True, "forward"),
        (EventSource.CARRIER_PUSH, "in_transit", False, "already_final")]
    other = world.handoff(2)
    _success(world.push(A17, other, 5, T0 + timedelta(minutes=30)))  # out for delivery
    _success(world.push(A17, other, 3, T0))  # picked up, told late
    assert world.status(other) == "out_for_delivery"
    assert world.log(other)[-1] == (EventSource.CARRIER_PUSH, "picked_up", False, "late_event")
    # told once, marked late: the one-stop records it at its time, its status stays
    assert world.push_backs(other) == ["accepted", "out_for_delivery", "picked_up late"]
    assert world.push_backs(order) == ["accepted", "delivered", "in_transit late"]


def test_a_milestone_told_by_push_and_by_the_feed_is_one_applied_event(world: World) -> None:
    order = world.handoff(1)
    feed = world.accounts[CODES[A17]]
    delivered_at = T0 + timedelta(minutes=40)
    _success(world.push(A17, order, 4, T0))  # in transit: the push comes first
    feed.add(order, 2, T0, ms=400)  # ... then the feed, in milliseconds, same second
    feed.add(order, 5, delivered_at, ms=999)  # delivered: the feed comes first
    assert poll_carrier(world.rt) == 2
    _success(world.push(A17, order, 7, delivered_at))  # ... then the push
    assert world.status(order) == "delivered"
    assert world.applied(order, "in_transit") == [EventSource.CARRIER_PUSH]
    assert world.applied(order, "delivered") == [EventSource.CARRIER_FEED]
    assert world.log(order) == [
        (EventSource.CARRIER_PUSH, "in_transit", True, "forward"),
        (EventSource.CARRIER_FEED, "in_transit", False, "duplicate_event"),
        (EventSource.CARRIER_FEED, "delivered", True, "forward"),
        (EventSource.CARRIER_PUSH, "delivered", False, "duplicate_event")]
    assert world.push_backs(order) == ["accepted", "in_transit", "delivered"]
    # the feed read again (its cursor moved on) and a re-sent push change nothing
    assert poll_carrier(world.rt) == 0
    assert len(world.log(order)) == 4


def test_a_feed_row_stored_before_milestone_keys_is_still_recognised(world: World) -> None:
    """A database from before this version holds feed rows keyed `carrier:order|code|ms`
    only; a push for the same milestone must not apply it again."""
    order = world.handoff(1)
    world.accounts[CODES[A17]].add(order, 4, T0)  # delivery failed (a repeatable status)
    assert poll_carrier(world.rt) == 1
    with world.db.unit_of_work() as s:  # as the old version stored it
        row = s.scalars(select(StatusLogEntry).where(
            StatusLogEntry.order_number == order, StatusLogEntry.status == "delivery_failed")
        ).one()
        row.dedup_key = f"carrier:{order}|4|{int(T0.timestamp()) * 1000}"
    _success(world.push(A17, order, 6, T0))
    assert world.applied(order, "delivery_failed") == [EventSource.CARRIER_FEED]
    assert world.log(order)[-1][2:] == (False, "duplicate_event")


def test_a_push_for_another_accounts_order_is_logged_and_not_applied(world: World) -> None:
    theirs = world.handoff(1, agency=A21)
    _success(world.push(A17, theirs, 7, T0))  # by Lai Vung's account, of Cao Lãnh's order
    assert world.status(theirs) == "accepted"
    assert world.log(theirs) == [
        (EventSource.CARRIER_PUSH, "delivered", False, "order_of_other_account")]
    assert world.push_backs(theirs) == ["accepted"]
    _success(world.push(A21, theirs, 7, T0))  # the right account's copy is not blocked
    assert world.status(theirs) == "delivered"
    assert world.applied(theirs, "delivered") == [EventSource.CARRIER_PUSH]


def test_an_unknown_order_is_answered_success_and_logged(world: World) -> None:
    unknown = "000.00.17.H19-010126-0042/R1"
    _success(world.push(A17, unknown, 7, T0))
    assert world.log(unknown) == [(EventSource.CARRIER_PUSH, "delivered", False,
                                   "order_not_known")]


def test_a_push_naming_only_the_item_code_finds_its_order(world: World) -> None:
    order = world.handoff(1)
    _success(world.push(A17, order, 4, T0))  # the first push brings the item code
    _success(world.push(A17, "", 7, T0 + timedelta(minutes=5), order_code=None))
    assert world.status(order) == "delivered"
    _success(world.push(A17, "", 7, T0, order_code=None, tracking_code="EE000000000VN"))
    assert world.count(CarrierPushReceipt) == 3


def test_a_signed_push_that_cannot_be_taken_is_400_and_stores_nothing(world: World) -> None:
    order = world.handoff(1)
    logged = world.count(StatusLogEntry)
    secret, url = SECRETS[A17], f"/hooks/carrier/{A17}"
    no_tx = signed_push(secret, push_body(order, 7, T0))
    del no_tx[0]["ems-transaction"]
    cases = [no_tx, signed_push(secret, b"not json", transaction="tx-bad-1"),
             signed_push(secret, b"[1]", transaction="tx-bad-2"),
             signed_push(secret, push_body("", 7, T0, tracking_code=""),
                         transaction="tx-bad-3")]
    for headers, raw in cases:
        r = world.client.post(url, content=raw, headers=headers)
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["code"] == "error" and body["reason"]
        assert body["transaction"] == headers.get("ems-transaction", "")
    assert world.count(StatusLogEntry) == logged and world.count(CarrierPushReceipt) == 0
    assert world.status(order) == "accepted"


def test_a_body_over_the_limit_is_413_before_anything_else(world: World) -> None:
    headers, raw = signed_push(SECRETS[A17], push_body("x", 7, T0, note="n" * 1_000_100))
    r = world.client.post(f"/hooks/carrier/{A17}", content=raw, headers=headers)
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    assert world.count(CarrierPushReceipt) == 0


def test_the_answers_are_the_documented_ones(world: World) -> None:
    doc = world.client.get("/openapi.json").json()
    operation = schemathesis.openapi.from_dict(doc)["/hooks/carrier/{agency}"]["POST"]
    order = world.handoff(1)
    bad = signed_push(SECRETS[A17], b"[1]", transaction="tx-doc-1")
    answers = [world.push(A17, order, 4, T0), world.push(A17, order, 4, T0, secret="nope"),
               world.client.post(f"/hooks/carrier/{A17}", content=bad[1], headers=bad[0]),
               world.client.post(f"/hooks/carrier/{A17}", content=b"{}",
                                 headers={"Content-Length": "2000000"})]
    assert [r.status_code for r in answers] == [200, 401, 400, 413]
    for r in answers:
        operation.validate_response(r)


def test_a_database_that_cannot_take_the_push_answers_503(sqlite_world: World,
                                                           tmp_path: Path) -> None:
    world = sqlite_world
    order = world.handoff(1)
    with world.db.unit_of_work() as s:  # the receipts cannot be written any more
        s.execute(text("DROP TABLE carrier_push_receipts"))
    r = world.push(A17, order, 4, T0, transaction="tx-503")
    assert r.status_code == 503 and r.json()["code"] == "error"
    assert r.json()["transaction"] == "tx-503"
    assert world.status(order) == "accepted"  # nothing half-done: the carrier re-sends
    down = Runtime(world.rt.settings, Database("postgresql+psycopg://x@127.0.0.1:1/none"),
                   bell=ListBell())
    with TestClient(create_app(down), base_url="https://testserver") as client:
        headers, raw = signed_push(SECRETS[A17], push_body(order, 4, T0))
        r = client.post(f"/hooks/carrier/{A17}", content=raw, headers=headers)
    assert r.status_code == 503 and r.json()["code"] == "error"


@pytest.mark.processes
def test_handoff_status_and_the_timeline_page_say_which_path_each_event_came_by(
        sqlite_world: World, tmp_path: Path) -> None:
    world = sqlite_world
    order = world.handoff(1)
    _success(world.push(A17, order, 4, T0))
    world.accounts[CODES[A17]].add(order, 5, T0 + timedelta(minutes=30))
    assert poll_carrier(world.rt) == 1
    dossier = numbered(1)["dossierCode"]
    shown = handoff(tmp_path, "status", dossier)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any("in_transit" in line and "bưu chính (báo tin)" in line for line in lines), lines
    assert any("delivered" in line and "bưu chính (luồng theo dõi)" in line
               for line in lines), lines
    add_staff(world.db)
    assert login(world.client, "ops").status_code == 303
    with world.db.unit_of_work() as s:
        handoff_id = s.scalar(select(Handoff.id).where(Handoff.order_number == order))
    page = world.client.get(f"/ops/handoffs/{handoff_id}")
    assert page.status_code == 200
    assert "bưu chính (báo tin)" in page.text and "bưu chính (luồng theo dõi)" in page.text
