"""No body over 1 MB reaches any route, page forms included; JSON depth is checked in
linear time whatever the body holds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simulators.serve import serve_in_thread
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.domain.json_input import json_depth
from worker.settings import Settings
from worker.web.app import create_app

pytestmark = pytest.mark.flows  # the app on a real server thread


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'web.db'}"
    upgrade(url)
    db = Database(url)
    base, stop = serve_in_thread(create_app(build_runtime(settings=Settings(database_url=url),
                                                          db=db)), "web")
    yield base
    stop()
    db.dispose()


@pytest.mark.parametrize("path", ["login", "logout", "desk/pickups", "settings/dispatch",
                                  "ops/dead/replay", "api/v1/pickups", "hooks/onestop"])
def test_a_declared_body_over_a_megabyte_is_413_on_every_route(web: str, path: str) -> None:
    body = b"username=" + b"a" * 1_100_000
    r = httpx.post(web + path, content=body,
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"


def test_a_streamed_form_over_a_megabyte_is_413(web: str) -> None:
    def form() -> Iterator[bytes]:  # chunked: no Content-Length for the server to check
        yield b"username=ops&password="
        for _ in range(40):
            yield b"x" * 65536

    r = httpx.post(web + "login", content=form(),
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413


def test_a_small_form_still_reaches_the_login_page(web: str) -> None:
    r = httpx.post(web + "login", content=b"username=ops&password=x",
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 403  # no CSRF token: refused by the page itself, not the limit


@pytest.mark.parametrize("body", [
    b'"' + b'\\"' * 500_000,  # one string that never closes, full of escaped quotes
    b'"' + b'\\"' * 499_999 + b"\\",
    b'["' * 333_333,
    b"[" * 1_000_000,
], ids=["unclosed-escapes", "trailing-backslash", "unclosed-strings", "deep"])
def test_json_depth_of_a_hostile_megabyte_takes_well_under_a_second(body: bytes) -> None:
    started = time.perf_counter()
    json_depth(body)
    # linear: ~0.2 s alone, under 2 s on a loaded 2-core machine running the suite in parallel;
    # the bound only has to catch the quadratic scan, which took ~45 minutes
    assert time.perf_counter() - started < 10.0


def test_json_depth_ignores_brackets_inside_strings() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[\\"]]"}]}') == 3
    assert json_depth(b'["\\\\"[[') == 3
