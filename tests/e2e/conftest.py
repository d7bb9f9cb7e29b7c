"""Browser fixtures: Debian's Chromium driven by Playwright, against a running stack."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.helpers import stack_db
from worker.launch.stack import Stack
from worker.service.access.users import add_user

USERS = {
    "ops": ("ops", "ops-password-1", "ops", None, "Trần Vận Hành"),
    "desk": ("desk", "desk-password-1", "desk", "000.00.17.H19", "Lê Một Cửa"),
}
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    msg = "Debian's chromium is not installed (make test installs it when run as root)"
    if os.environ.get("CI"):
        pytest.fail(f"CI: {msg}")
    pytest.skip(msg)


@pytest.fixture(scope="module")
def web_stack(tmp_path_factory) -> Iterator[Stack]:
    """Simulators, migrated database, web, worker and beat, with an ops and a desk user.

    The agency 000.00.17.H19 is in desk dispatch: its hand-offs wait for the desk.
    """
    home = tmp_path_factory.mktemp("web") / "home"
    agencies = '{"000.00.17.H19": {"name": "UBND xã Lai Vung", "dispatch": "desk"}}'
    with Stack(home=home, extra_env={"HANDOFF_AGENCIES": agencies}) as stack, \
            ThreadPoolExecutor(len(USERS)) as pool:
        # every module starts one: the steps that do not wait on each other overlap (the
        # schema while the simulators start; the logins while the web comes up)
        migrated = pool.submit(stack.migrate)
        stack.start_simulators()
        migrated.result()
        logins = pool.submit(add_logins, stack)
        stack.start_worker()
        stack.start_beat()
        stack.start_web()
        logins.result()
        yield stack


def add_logins(stack: Stack) -> None:
    """USERS, written by the service `handoff user add` calls (tests/unit/test_users.py
    runs the command itself): a `handoff` process per login cost a second of CPU each, two
    in every page module."""
    db = stack_db(stack)
    try:
        with db.unit_of_work() as s:
            for username, password, role, agency, name in USERS.values():
                add_user(s, username, password, role, agency, name)
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, artifacts: Path):  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="vi-VN", viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()


def login(page, stack: Stack, who: str) -> None:  # type: ignore[no-untyped-def]
    username, password = USERS[who][0], USERS[who][1]
    page.goto(stack.web_url + "login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
