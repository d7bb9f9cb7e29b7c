"""/hooks/onestop against hostile bodies: an answer for each, never a 500, nothing lost; the
database failing is a 503 the sender retries."""

from __future__ import annotations

import json
import select as io_select
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.routing import Route

from integrations.onestop import mapping
from integrations.onestop.webhooks import sign_webhook
from simulators.serve import serve_in_thread
from tests.fakes import ListBell
from tests.onestop_items import numbered
from tests.support.db_failures import deadlock
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import Handoff, Receipt, StatusLogEntry
from worker.settings import Settings
from worker.web.hooks import onestop_hook

pytestmark = pytest.mark.flows  # the hook on a real server thread

SECRET = Settings().webhook_secret


def _db_and_app(url: str) -> tuple[Database, Starlette]:
    upgrade(url)
    db = Database(url)
    app = Starlette(routes=[Route("/hooks/onestop", onestop_hook, methods=["POST"])])
    app.state.runtime = build_runtime(settings=Settings(database_url=url), db=db, bell=ListBell())
    return db, app


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    db, app = _db_and_app(f"sqlite:///{tmp_path / 'hook.db'}")
    base, stop = serve_in_thread(app, "hook")
    yield base + "hooks/onestop", db
    stop()
    db.dispose()


def _signed(body: bytes, msg_id: str) -> dict[str, str]:
    headers = sign_webhook(SECRET, msg_id, body)
    headers["content-type"] = "application/json"
    return headers


HOSTILE_ITEMS = [
    (numbered(1, codAmount=1e30), "codAmount", "amount.type"),
    (numbered(2, codAmount=10**30), "codAmount", "amount.range"),
    (numbered(3, createdAt="0001-01-01T00:00:00+07:00"), "createdAt", "date.out_of_window"),
    (numbered(4, createdAt="9999-12-31T23:59:59+07:00"), "createdAt", "date.out_of_window"),
    (numbered(5, citizen__name="Nguy\ud800n"), "citizen.name", "text.forbidden_char"),
    (numbered(6, dossierCode="000.00.17.H19-201126-\udfff"), "dossierCode",
     "text.forbidden_char"),
    (numbered(7, citizen__address="Số 12\x00ấp"), "citizen.address", "text.forbidden_char"),
    (numbered(8, note="x" * 5000), "note", "text.too_long"),
]


@pytest.mark.parametrize(("item", "field", "code"), HOSTILE_ITEMS,
                         ids=[f"{f}-{c}" for _, f, c in HOSTILE_ITEMS])
def test_a_hostile_item_is_recorded_as_needing_attention_naming_the_field(
        served: tuple[str, Database], item: dict, field: str, code: str) -> None:
    url, db = served
    body = json.dumps(item).encode()  # ASCII-escaped: a lone surrogate is valid JSON text
    r = httpx.post(url, content=body, headers=_signed(body, f"msg_{item['id']}"))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["outcome"], answer["field"], answer["code"]) == ("invalid", field, code)
    with db.unit_of_work() as s:
        h = s.scalar(select(Handoff).where(Handoff.source_item_id == item["id"]))
        assert h is not None and h.status == "needs_attention"
        assert h.status_reason.startswith(field + ":")
    # the sender's retry of the same message is a duplicate, not a second record
    again = httpx.post(url, content=body, headers=_signed(body, f"msg_{item['id']}"))
    assert again.json()["outcome"] == "duplicate"


def test_an_item_whose_reading_hit_a_bug_is_quarantined_and_answered_200(
        served: tuple[str, Database], monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(raw: object) -> None:
        raise ZeroDivisionError("a bug in the adapter")

    monkeypatch.setattr(mapping, "parse_item", bug)
    url, db = served
    body = json.dumps(numbered(40)).encode()
    r = httpx.post(url, content=body, headers=_signed(body, "msg_bug"))
    assert r.status_code == 200 and r.json()["outcome"] == "quarantined", r.text
    with db.unit_of_work() as s:
        assert s.scalar(select(Handoff)) is None
        note = s.scalars(select(StatusLogEntry.notes)).one()
    assert note.startswith("không xử lý được item hof_t040") and "ZeroDivisionError" in note


def test_the_database_failing_is_answered_503_and_the_item_taken_when_sent_again(
        served: tuple[str, Database], monkeypatch: pytest.MonkeyPatch) -> None:
    """A deadlock while the item is taken is no fault of the item: nothing is stored (not
    even its receipt), the sender is told to send it again, and the same message is then
    taken."""
    from worker.web import hooks

    real, failing = hooks.ingest_item, [True]

    def deadlocked(*args: object, **kwargs: object) -> object:
        if failing.pop(0) if failing else False:
            raise deadlock("INSERT INTO handoffs")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hooks, "ingest_item", deadlocked)
    url, db = served
    body = json.dumps(numbered(41)).encode()
    r = httpx.post(url, content=body, headers=_signed(body, "msg_deadlock"))
    assert r.status_code == 503 and r.json()["error"] == "unavailable", r.text
    with db.unit_of_work() as s:
        assert s.scalar(select(Handoff)) is None and s.scalar(select(Receipt)) is None
        assert s.scalar(select(StatusLogEntry)) is None  # not quarantined
    again = httpx.post(url, content=body, headers=_signed(body, "msg_deadlock"))
    assert again.status_code == 200 and again.json()["outcome"] == "created", again.text


def test_json_nested_100000_deep_is_refused_before_parsing(served: tuple[str, Database]) -> None:
    url, _ = served
    body = b"[" * 100_000 + b"]" * 100_000
    r = httpx.post(url, content=body, headers=_signed(body, "msg_deep"))
    assert r.status_code == 422 and r.json()["code"] == "json.too_deep"


@pytest.mark.parametrize("body", [b'{"id": NaN}', b'{"id": 1' + b"0" * 5000 + b"}",
                                  b"[1, 2]"])
def test_signed_bodies_that_are_not_a_json_object_get_422(served: tuple[str, Database],
                                                          body: bytes) -> None:
    url, _ = served
    r = httpx.post(url, content=body, headers=_signed(body, "msg_odd"))
    assert r.status_code == 422, r.text


def test_a_body_that_is_not_utf8_cannot_carry_a_valid_signature(
        served: tuple[str, Database]) -> None:
    url, _ = served
    headers = _signed(b"{}", "msg_bytes")
    r = httpx.post(url, content=b"\xff\xfe{}", headers=headers)
    assert r.status_code == 401


def _raw_request(url: str, head: bytes, chunks: Iterator[bytes]) -> tuple[bytes, int]:
    """Send a request by hand; returns (the start of the answer, body bytes sent by then)."""
    parsed = httpx.URL(url)
    sent = 0
    with socket.create_connection((parsed.host, parsed.port), timeout=10) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        for chunk in chunks:
            # a moment for the server to answer before each chunk (paces the upload)
            if io_select.select([sock], [], [], 0.001)[0]:
                answer = sock.recv(200)
                if answer:
                    return answer, sent
            try:
                sock.sendall(chunk)
            except (BlockingIOError, OSError):
                break
            sent += len(chunk)
        sock.setblocking(True)
        return sock.recv(200), sent


def test_a_300_mb_body_announced_by_content_length_is_refused_before_it_is_sent(
        served: tuple[str, Database]) -> None:
    url, db = served
    head = (b"POST /hooks/onestop HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 314572800\r\n\r\n")
    answer, sent = _raw_request(url, head, iter([]))
    assert answer.startswith(b"HTTP/1.1 413") and sent == 0


def test_a_300_mb_streamed_body_is_refused_after_about_a_megabyte(
        served: tuple[str, Database]) -> None:
    url, db = served
    head = (b"POST /hooks/onestop HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"transfer-encoding: chunked\r\n\r\n")
    piece = b"x" * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"

    def upload() -> Iterator[bytes]:
        for _ in range(300 * 16):  # 300 MB in 64 KiB chunks, sent only while unanswered
            yield chunk

    answer, sent = _raw_request(url, head, upload())
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert sent < 8 * 1024 * 1024, f"{sent} bytes sent before the answer"
    with db.unit_of_work() as s:
        assert s.scalar(select(Receipt)) is None  # nothing stored


def test_a_declared_content_length_over_the_limit_is_refused_unread(
        served: tuple[str, Database]) -> None:
    url, _ = served
    body = b"{" + b" " * 1_100_000 + b"}"
    r = httpx.post(url, content=body, headers=_signed(body, "msg_big"))
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"


def test_two_webhook_id_headers_are_refused(served: tuple[str, Database]) -> None:
    url, db = served
    body = json.dumps(numbered(20)).encode()
    signed = _signed(body, "msg_a")
    headers = [(k, v) for k, v in signed.items()] + [("webhook-id", "msg_b")]
    r = httpx.post(url, content=body, headers=headers)
    assert r.status_code == 401
    with db.unit_of_work() as s:
        assert s.scalar(select(Receipt)) is None


@pytest.mark.services
def test_nul_and_surrogates_are_refused_the_same_way_on_postgresql(
        pg_url: str) -> None:
    db, app = _db_and_app(pg_url)
    base, stop = serve_in_thread(app, "hook-pg")
    try:
        for item, field, _ in HOSTILE_ITEMS:
            body = json.dumps(item).encode()
            r = httpx.post(base + "hooks/onestop", content=body,
                           headers=_signed(body, f"msg_{item['id']}"))
            assert r.status_code == 200 and r.json()["field"] == field, r.text
        with db.unit_of_work() as s:
            statuses = set(s.scalars(select(Handoff.status)))
        assert statuses == {"needs_attention"}
    finally:
        stop()
        db.dispose()
