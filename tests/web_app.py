"""The real web app on a test's database, and the public login form: what page tests share."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.service.access.users import add_user
from worker.service.runtime import Runtime
from worker.settings import Settings
from worker.web.app import create_app

PASSWORD = "password-for-tests"
AGENCY = "000.00.17.H19"
BASE = "https://testserver"  # the session cookie is Secure outside the embedded default
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
COOKIE = "handoff_session"


def csrf(html: str) -> str:
    """The CSRF token carried by a page's form."""
    found = CSRF.search(html)
    assert found, html[:2000]
    return found.group(1)


def add_staff(db: Database, password: str = PASSWORD) -> None:
    """`ops` (role ops) and `desk` (a clerk of AGENCY), both with `password`."""
    with db.unit_of_work() as s:
        add_user(s, "ops", password, "ops", full_name="Trần Vận Hành")
        add_user(s, "desk", password, "desk", AGENCY, "Lê Một Cửa")


def web_runtime(db: Database, home: Path, **settings: Any) -> Runtime:
    """A runtime on `db`; its settings name that database unless told otherwise."""
    settings.setdefault("database_url", db.url)
    return build_runtime(settings=Settings(home=home, **settings), db=db)


@contextmanager
def page_client(rt: Runtime, **options: Any) -> Iterator[TestClient]:
    """A browser on the real app over HTTPS that shows redirects instead of following them."""
    options = {"base_url": BASE, "follow_redirects": False, **options}
    with TestClient(create_app(rt), **options) as client:
        yield client


def login(client: httpx.Client, username: str, password: str = PASSWORD, *,
          path: str = "/login") -> httpx.Response:
    """Through the public form: GET it, POST it back with its CSRF token (303 when right)."""
    page = client.get(path)
    return client.post(path, data={"csrf": csrf(page.text), "username": username,
                                   "password": password})


def logged_out(r: httpx.Response) -> bool:
    """The answer a page gives without a valid session: off to the login form."""
    return r.status_code == 303 and r.headers["location"].startswith("/login")


@dataclass
class Web:
    """The real app on a test's SQLite database (in `home`) with `ops` and `desk`."""

    client: TestClient
    db: Database
    home: Path

    def browser(self) -> TestClient:
        """Another browser on the same app (its own cookies)."""
        return TestClient(self.client.app, base_url=BASE, follow_redirects=False)

    def replay(self, cookie: str, method: str, path: str, **kw: Any) -> httpx.Response:
        """A request from someone holding a copy of a cookie (a fresh client, no jar)."""
        with self.browser() as other:
            return other.request(method, path, headers={"cookie": f"{COOKIE}={cookie}"}, **kw)


@contextmanager
def open_web(db: Database, home: Path, **settings: Any) -> Iterator[Web]:
    """`db` must be the embedded database of `home`, so `handoff` run there uses it too."""
    add_staff(db)
    with page_client(web_runtime(db, home, **settings)) as client:
        yield Web(client, db, home)
