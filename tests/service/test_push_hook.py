"""The carrier push hook's doors (issue 13, items 6, 7, 10), through the real web app
(TestClient on create_app) on SQLite and PostgreSQL: a push replayed under fresh transaction
ids is taken once; a wrong signature costs the same work whether the agency exists or not;
the signature is taken in either case, and wrong ones are answered 429 past their limits,
with one warning line a minute, never holding up the carrier's own pushes."""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select
from starlette.testclient import TestClient

from simulators.carrier.push import push_body, signed_push
from tests.fakes import ListBell
from tests.service.fakes import FakeCarrier, FakeNotifier, FakeOnestop, LedgerClock
from tests.service.world import World
from tests.web_app import BASE, add_staff, login
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.models import CarrierPushReceipt, LoginAttempt, StatusLogEntry
from worker.domain.enums import VN_TZ
from worker.service import agencies
from worker.service.access.push_throttle import EveryMinute
from worker.service.admin import agency_admin
from worker.settings import Settings
from worker.web.app import create_app
from worker.web.carrier_hooks import UNAUTHORIZED

A17, UNKNOWN = "000.00.17.H19", "000.00.99.H99"  # the same length: the URL costs the same
A21 = "000.00.21.H19"
SECRET = secrets.token_urlsafe(33)
T0 = datetime.now(VN_TZ).replace(microsecond=0) - timedelta(hours=1)
CARRIER, STRANGER = "203.0.113.5", "198.51.100.7"


class Hook:
    """The real app on one database, agency A17 on its own account with a push secret."""

    def __init__(self, world: World, client: TestClient) -> None:
        self.world, self.client, self.db = world, client, world.rt.db

    def at(self, address: str) -> TestClient:
        """A client of the same app from another address."""
        return TestClient(self.client.app, base_url=BASE, client=(address, 50000))

    def accepted(self, n: int = 1) -> tuple[str, int]:
        """A result delivery of A17, posted and accepted: (order number, hand-off id)."""
        _, handoff_id = self.world.requested(n)
        self.world.work()
        h = self.world.handoff(handoff_id)
        assert h.status == "accepted" and h.order_number, h.status
        return h.order_number, handoff_id

    def push(self, order: str, code: int = 3, at: datetime = T0, *, agency: str = A17,
             secret: str = SECRET, transaction: str | None = None, address: str = CARRIER,
             body: dict[str, Any] | None = None, **fields: Any) -> httpx.Response:
        headers, raw = signed_push(secret, body or push_body(order, code, at, **fields),
                                   transaction=transaction)
        return self.at(address).post(f"/hooks/carrier/{agency}", content=raw, headers=headers)

    def timeline(self, handoff_id: int) -> list[tuple[str | None, bool, str | None]]:
        """(status, applied, reason code) of the hand-off's log rows, oldest first."""
        with self.db.unit_of_work() as s:
            return [(e.status, e.applied, e.reason_code) for e in s.scalars(
                select(StatusLogEntry).where(StatusLogEntry.handoff_id == handoff_id)
                .order_by(StatusLogEntry.id))]

    def count(self, model: type) -> int:
        with self.db.unit_of_work() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0


def _give_account(db: Database, settings: Settings, push_secret: str = SECRET,
                  code: str = A17, customer_code: str = "C0917") -> None:
    with db.unit_of_work() as s:
        agency_admin.save(s, settings, {
            "code": code, "route": "ngsp", "customer_code": customer_code,
            "customer_key": secrets.token_urlsafe(32), "secret_key": secrets.token_urlsafe(32),
            "push_secret": push_secret}, "test", adding=False)


OpenHook = Callable[..., Hook]


@pytest.fixture
def open_hook(database: Database, tmp_path: Path) -> Iterator[OpenHook]:
    """Opens the app with the settings given (the throttle's limits)."""
    clients: list[TestClient] = []

    def opened(**overrides: Any) -> Hook:
        settings = Settings(home=tmp_path, database_url=database.url, **overrides)
        _give_account(database, settings)
        carrier, onestop, notifier, bell = FakeCarrier(), FakeOnestop(), FakeNotifier(), ListBell()
        rt = build_runtime(settings=settings, db=database, carriers={"ngsp": carrier},
                           onestop=onestop, notifier=notifier, bell=bell)
        client = TestClient(create_app(rt), base_url=BASE, follow_redirects=False)
        clients.append(client.__enter__())
        return Hook(World(rt, carrier, onestop, notifier, bell, LedgerClock(database)), client)

    yield opened
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def hook(open_hook: OpenHook) -> Hook:
    return open_hook()


def _success(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    assert r.json()["code"] == "success"
    return str(r.json()["transaction"])


# --- item 6: one milestone, one line, whatever transaction ids it comes under ------------------
def test_a_push_replayed_under_30_fresh_transaction_ids_is_taken_once(hook: Hook) -> None:
    order, handoff_id = hook.accepted()
    before = hook.timeline(handoff_id)
    sent = [f"tx-{n:02d}-{secrets.token_hex(4)}" for n in range(31)]
    assert [_success(hook.push(order, 3, transaction=tx)) for tx in sent] == sent
    assert hook.world.handoff(handoff_id).status == "picked_up"
    assert hook.timeline(handoff_id) == [*before, ("picked_up", True, "forward")]
    assert hook.count(CarrierPushReceipt) == 1  # nothing stored for the 30 copies
    add_staff(hook.db)  # what ops see: the dossier's timeline
    assert login(hook.client, "ops").status_code == 303
    page = hook.client.get(f"/ops/handoffs/{handoff_id}").text
    assert f"Diễn biến ({len(before) + 1} sự kiện)" in page and "tin trùng" not in page


def test_the_same_milestone_written_otherwise_is_the_same_and_another_is_not(
        hook: Hook) -> None:
    order, handoff_id = hook.accepted()
    before = len(hook.timeline(handoff_id))
    _success(hook.push(order, 4))
    rewritten = {**push_body(order, 4, T0, note="gọi trước", locate="Bưu cục khác",
                             weight=999), "status_code": "4"}
    rewritten["datetime"] = f"  {rewritten['datetime']} "
    _success(hook.push(order, body=dict(reversed(list(rewritten.items())))))
    assert hook.count(CarrierPushReceipt) == 1
    _success(hook.push(order, 4, T0 + timedelta(seconds=1)))  # another second: another event
    _success(hook.push(order, 6, T0))  # another code at the same time
    other, _ = hook.accepted(2)
    _success(hook.push(other, 4))  # another order
    assert hook.count(CarrierPushReceipt) == 4
    told = hook.timeline(handoff_id)[before:]
    assert told[0] == ("in_transit", True, "forward") and len(told) == 3


def test_copies_sent_at_once_leave_one_receipt_and_one_line(hook: Hook) -> None:
    """The unique index decides, not a look-up first: copies racing each other (each under
    its own transaction id, each on its own connection) leave one receipt."""
    order, handoff_id = hook.accepted()
    start, answers = threading.Barrier(6), []

    def send() -> None:
        start.wait()
        answers.append(hook.push(order, 5))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert [r.status_code for r in answers] == [200] * 6
    assert hook.count(CarrierPushReceipt) == 1
    assert [r for r in hook.timeline(handoff_id) if r[0] == "out_for_delivery"] == [
        ("out_for_delivery", True, "forward")]


# --- item 7: the same work for every agency code ----------------------------------------------
def test_a_wrong_signature_for_a_known_agency_does_the_work_of_an_unknown_code(
        hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    """No decryption per push (the push secret is opened once, then kept ready), and the
    same statements, in the same order, as for a code that names nobody."""
    order, _ = hook.accepted()
    opened: list[str] = []
    real_open = agencies.open_sealed
    monkeypatch.setattr(agencies, "open_sealed", lambda settings, token: (
        opened.append("x"), real_open(settings, token))[1])
    sql: list[str] = []
    listen = (hook.db.engine, "before_cursor_execute",
              lambda _c, _cur, statement, *_a: sql.append(statement))
    _success(hook.push(order, 3))  # the first push opens the secret
    assert len(opened) == 1
    work: dict[str, list[tuple[int, tuple[str, ...]]]] = {A17: [], UNKNOWN: []}
    answers = set()
    event.listen(*listen)
    try:
        for _ in range(5):
            for agency in (A17, UNKNOWN):
                opened.clear(), sql.clear()
                r = hook.push(order, 7, agency=agency, secret="not-" + SECRET)
                assert r.status_code == 401
                answers.add(r.text)
                work[agency].append((len(opened), tuple(sql)))
    finally:
        event.remove(*listen)
    assert work[A17] == work[UNKNOWN]
    assert {n for n, _ in work[A17]} == {0} and all(statements for _, statements in work[A17])
    assert len(answers) == 1


def test_new_credentials_are_used_from_the_next_push(hook: Hook) -> None:
    """Kept ready, but never stale: `handoff agency update` in another process changes the
    stored value, and the next push is checked against the new secret."""
    order, _ = hook.accepted()
    _success(hook.push(order, 3))
    new = secrets.token_urlsafe(33)
    _give_account(hook.db, hook.world.rt.settings, push_secret=new)
    assert hook.push(order, 4).status_code == 401  # the old secret is refused at once
    _success(hook.push(order, 4, secret=new))


# --- item 10: either case; wrong signatures counted and throttled -------------------------------
def test_a_signature_in_uppercase_hex_is_taken(hook: Hook) -> None:
    order, handoff_id = hook.accepted()
    headers, raw = signed_push(SECRET, push_body(order, 3, T0))
    headers["ems-signature"] = headers["ems-signature"].upper()
    _success(hook.client.post(f"/hooks/carrier/{A17}", content=raw, headers=headers))
    assert hook.world.handoff(handoff_id).status == "picked_up"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "worker.web.carrier_hooks" and r.levelno == logging.WARNING]


def test_an_address_sending_wrong_signatures_gets_429_and_one_warning_line(
        open_hook: OpenHook, caplog: pytest.LogCaptureFixture) -> None:
    hook = open_hook(push_throttle_address=5)
    order, handoff_id = hook.accepted()
    caplog.set_level(logging.INFO)
    for agency in (A17, UNKNOWN, A17, UNKNOWN, A17):  # the address's failures, any code
        r = hook.push(order, 7, agency=agency, secret="guess", address=STRANGER)
        assert r.status_code == 401 and "Retry-After" not in r.headers
    refused = [hook.push(order, 7, agency=agency, secret="guess", address=STRANGER)
               for agency in [A17, UNKNOWN] * 12]
    right = hook.push(order, 7, address=STRANGER)  # even a right guess is not told
    for r in [*refused, right]:
        assert r.status_code == 429, r.text
        assert r.json()["error"] == "too_many_failures" and r.json()["reason"]
        assert 1 <= int(r.headers["Retry-After"]) <= 900
    told = _warnings(caplog)
    assert len(told) == 1 and STRANGER in told[0], told  # one line, not 25
    assert SECRET not in caplog.text and hook.world.handoff(handoff_id).status == "accepted"
    _success(hook.push(order, 7))  # the carrier, at its own address, is not held up


def test_strangers_failing_everywhere_never_hold_up_the_carriers_pushes(
        open_hook: OpenHook) -> None:
    """Past the agency's limit each network gets only `network` more wrong signatures; the
    carrier, whose network fails nothing, goes on being taken."""
    hook = open_hook(push_throttle_address=50, push_throttle_agency=6,
                     push_throttle_network=2)
    order, handoff_id = hook.accepted()
    answers: dict[str, list[int]] = {}
    for n in range(8):  # eight networks, three addresses each, two guesses per address
        for host in (7, 8, 9):
            address = f"198.51.{n}.{host}"
            for _ in range(2):
                r = hook.push(order, 7, secret="guess", address=address)
                answers.setdefault(f"198.51.{n}", []).append(r.status_code)
        _success(hook.push(order, 3, T0 + timedelta(minutes=n)))  # the carrier, meanwhile
    assert answers.pop("198.51.0") == [401] * 6  # within the agency's limit
    assert list(answers.values()) == [[401, 401, 429, 429, 429, 429]] * 7
    assert hook.world.handoff(handoff_id).status == "picked_up"
    with hook.db.unit_of_work() as s:  # only failures are kept: the carrier left no row
        assert not [k for k in s.scalars(select(LoginAttempt.key)) if CARRIER in k]


def test_one_agencys_stale_secret_never_holds_up_the_carriers_pushes_for_another(
        open_hook: OpenHook) -> None:
    """The carrier sends every agency's pushes from the same address and re-sends each until
    it is answered success. A21's push secret was just changed here, so its pushes keep
    coming signed with the old one: with the shipped limits only A21's pushes from that
    address wait; A17's, from the same address, are taken."""
    hook = open_hook()
    new_secret = secrets.token_urlsafe(33)
    _give_account(hook.db, hook.world.rt.settings, new_secret, code=A21, customer_code="C0921")
    order, handoff_id = hook.accepted()
    stale = [hook.push(f"{A21}-291126-0001/R1", 3, agency=A21, secret=SECRET).status_code
             for _ in range(25)]
    assert stale == [401] * 20 + [429] * 5  # A21 from this address: past its own limit
    _success(hook.push(order, 3))  # A17, rightly signed, from the same address
    assert hook.world.handoff(handoff_id).status == "picked_up"
    # A21 waits out its window, even rightly signed now: a lucky guess is not told apart
    assert hook.push(f"{A21}-291126-0001/R1", 3, agency=A21, secret=new_secret
                     ).status_code == 429


def test_a_stranger_spraying_agency_codes_from_one_address_is_stopped(
        open_hook: OpenHook) -> None:
    """Each code is a pair of its own, so the address's own limit stops the spray, whatever
    the code next; the carrier, elsewhere, goes on."""
    hook = open_hook(push_throttle_address=30)
    order, handoff_id = hook.accepted()
    codes = [f"000.00.{n:02d}.{secrets.token_hex(2).upper()}" for n in range(30)]
    sprayed = [hook.push(order, 7, agency=code, secret="guess", address=STRANGER).status_code
               for code in codes]
    assert sprayed == [401] * 30
    for code in [UNKNOWN, A21, A17, secrets.token_hex(4)]:
        assert hook.push(order, 7, agency=code, secret="guess", address=STRANGER
                         ).status_code == 429
    assert hook.push(order, 7, address=STRANGER).status_code == 429  # a right one too
    _success(hook.push(order, 7))  # the carrier
    assert hook.world.handoff(handoff_id).status == "delivered"


def test_a_warning_is_due_once_a_minute_per_key() -> None:
    now = [0.0]
    gate = EveryMinute(clock=lambda: now[0])
    assert gate.due("198.51.100.7") == 0
    assert [gate.due("198.51.100.7") for _ in range(5)] == [None] * 5
    assert gate.due("203.0.113.9") == 0  # another key is told at once
    now[0] = 60.0
    assert gate.due("198.51.100.7") == 5  # the next line says how many were held back


# --- whatever arrives (property-based) ----------------------------------------------------------
codes = st.sampled_from([A17, UNKNOWN, "000.00.05.H13", "x", "000.00.17.h19"]) | st.text(
    st.characters(codec="utf-8", exclude_characters="/?#%"), min_size=1, max_size=45)
signatures = st.none() | st.sampled_from(["0" * 64, "F" * 64]) | st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc"]), max_size=80)


def test_any_wrongly_signed_push_is_answered_alike_and_stores_nothing(
        open_hook: OpenHook) -> None:
    hook = open_hook(push_throttle_pair=10**6, push_throttle_address=10**6,
                     push_throttle_agency=10**6, push_throttle_network=10**6)
    body = json.dumps(push_body("000.00.17.H19-010126-0001/R1", 7, T0)).encode()

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(code=codes, signature=signatures)
    def check(code: str, signature: str | None) -> None:
        headers: dict[str, str | bytes] = {"ems-transaction": "tx-1",
                                           "content-type": "application/json"}
        if signature is not None:
            headers["ems-signature"] = signature.encode("utf-8")
        r = hook.client.post(f"/hooks/carrier/{quote(code, safe='')}", content=body,
                             headers=headers)
        assert r.status_code in (401, 404), r.text  # 404: a path that names no hook
        if r.status_code == 401:
            assert r.json() == UNAUTHORIZED

    check()
    assert hook.count(CarrierPushReceipt) == 0 and hook.count(StatusLogEntry) == 0
    with hook.db.unit_of_work() as s:  # the failures are counted, under the push door only
        keys = set(s.scalars(select(LoginAttempt.key)))
    assert keys and all(k.startswith("push:") for k in keys)
