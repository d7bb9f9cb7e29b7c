"""Security headers on every answer of the web process, and the session cookie's Secure flag."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.web_app import login, page_client, web_runtime
from worker.db.engine import Database
from worker.service.access.users import add_user
from worker.settings import AgencyConfig
from worker.web.security_headers import SecurityHeaders

WEB = Path(__file__).resolve().parents[2] / "worker" / "web"
PG = "postgresql+psycopg://handoff@db.example/handoff"
PASSWORD = "password-for-tests"
EXPECTED = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def _client(db: Database, tmp_path: Path, **settings: object
            ) -> AbstractContextManager[TestClient]:
    rt = web_runtime(db, tmp_path, agencies={"000.00.17.H19": AgencyConfig()}, **settings)
    return page_client(rt, raise_server_exceptions=False)


@pytest.fixture
def embedded(sqlite_db: Database, tmp_path: Path) -> Iterator[TestClient]:
    with sqlite_db.unit_of_work() as s:
        add_user(s, "ops", PASSWORD, "ops", full_name="Trần Vận Hành")
    with _client(sqlite_db, tmp_path, database_url=str(sqlite_db.engine.url)) as client:
        yield client


@pytest.fixture
def production(sqlite_db: Database, tmp_path: Path) -> Iterator[TestClient]:
    """Settings off the embedded default (a PostgreSQL URL); the runtime's database is the
    test's SQLite file, since create_app connects to nothing at start."""
    with sqlite_db.unit_of_work() as s:
        add_user(s, "ops", PASSWORD, "ops", full_name="Trần Vận Hành")
    with _client(sqlite_db, tmp_path, database_url=PG) as client:
        yield client


def _assert_headers(headers: dict, hsts: bool) -> None:
    for name, value in EXPECTED.items():
        assert headers.get(name) == value, (name, headers.get(name))
    csp = headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert ("strict-transport-security" in headers) is hsts


@pytest.mark.parametrize("path, status", [
    ("/login", 200),                   # a page
    ("/api/v1/pickups/pending", 401),  # the API refusing a call without a token
    ("/static/site.css", 200),         # a static file
    ("/no-such-page", 404),            # an error
    ("/ops", 303),                     # a redirect to the login
    ("/healthz", 200),
])
def test_every_kind_of_answer_carries_the_headers(embedded: TestClient, production: TestClient,
                                                  path: str, status: int) -> None:
    r = embedded.get(path)
    assert r.status_code == status
    _assert_headers(r.headers, hsts=False)  # the embedded default serves plain HTTP
    r = production.get(path)
    assert r.status_code == status
    _assert_headers(r.headers, hsts=True)


def test_a_posted_webhook_refusal_carries_the_headers(embedded: TestClient) -> None:
    r = embedded.post("/hooks/onestop", content=b"{}")
    assert 400 <= r.status_code < 500
    _assert_headers(r.headers, hsts=False)


def _session_cookie_headers(client: TestClient) -> list[str]:
    client.cookies.clear()
    r = login(client, "ops", PASSWORD)
    assert r.status_code == 303, r.text
    cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
    return [c for c in cookies if c.startswith("handoff_session=")]


def test_session_cookie_is_secure_off_the_embedded_default(production: TestClient) -> None:
    cookies = _session_cookie_headers(production)
    assert cookies and all("secure" in c.lower().split("; ") for c in cookies), cookies
    assert production.get("/ops").status_code == 200  # the login holds over HTTPS


def test_session_cookie_is_not_secure_on_the_embedded_default(embedded: TestClient) -> None:
    cookies = _session_cookie_headers(embedded)
    assert cookies and not any("secure" in c.lower().split("; ") for c in cookies), cookies


def test_https_only_false_is_an_explicit_choice(sqlite_db: Database, tmp_path: Path) -> None:
    with sqlite_db.unit_of_work() as s:
        add_user(s, "ops", PASSWORD, "ops")
    with _client(sqlite_db, tmp_path, database_url=PG, session_https_only=False) as client:
        cookies = _session_cookie_headers(client)
        assert cookies and not any("secure" in c.lower().split("; ") for c in cookies)
        _assert_headers(client.get("/login").headers, hsts=False)


def test_pages_hold_no_inline_script_style_or_handlers() -> None:
    """The policy forbids inline code; a template that brings some back fails here, not in
    a clerk's browser with a silently dead button."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|"
                        r"javascript:", re.I)
    found = [f"{p.name}: {m.group(0)}" for p in (WEB / "templates").glob("*.html")
             for m in inline.finditer(p.read_text(encoding="utf-8"))]
    assert not found, found


# --- the middleware alone ------------------------------------------------------------------

def test_an_unexpected_error_still_answers_500_with_the_headers() -> None:
    async def boom(request):  # noqa: ANN001, ANN202 - a route that fails
        raise RuntimeError("boom")

    app = Starlette(routes=[Route("/boom", boom)])
    app.add_middleware(SecurityHeaders, hsts=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/boom")
    assert r.status_code == 500
    _assert_headers(r.headers, hsts=True)


def test_a_streamed_body_is_passed_on_chunk_by_chunk() -> None:
    """The first chunk reaches the server while the endpoint is still producing: nothing is
    buffered (the CSV export streams)."""
    release = asyncio.Event()

    async def rows():  # noqa: ANN202
        yield b"first\n"
        await release.wait()
        yield b"second\n"

    async def export(request):  # noqa: ANN001, ANN202
        return StreamingResponse(rows(), media_type="text/csv")

    app = SecurityHeaders(Starlette(routes=[Route("/export", export)]), hsts=False)
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)
        if message.get("body") == b"first\n":
            release.set()  # only now may the endpoint go on

    async def receive() -> dict:
        await asyncio.sleep(3600)  # the client never disconnects here
        return {"type": "http.disconnect"}

    scope = {"type": "http", "method": "GET", "path": "/export", "raw_path": b"/export",
             "query_string": b"", "headers": [], "http_version": "1.1", "scheme": "http",
             "server": ("testserver", 80), "client": ("127.0.0.1", 1), "root_path": ""}

    async def run() -> None:
        await asyncio.wait_for(app(scope, receive, send), timeout=10)

    asyncio.run(run())
    bodies = [m.get("body") for m in sent if m["type"] == "http.response.body"]
    assert b"first\n" in bodies and b"second\n" in bodies
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert (b"x-content-type-options", b"nosniff") in start["headers"]
