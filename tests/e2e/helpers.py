"""Shared helpers of the page and API tests: waiting, and feed items for one agency."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
from sqlalchemy import select

from simulators.onestop.data import ItemFactory, wards_by_province
from tests.web_app import csrf, login
from worker.db.engine import Database
from worker.db.models import Handoff, Job
from worker.domain.enums import JobKind, JobState
from worker.launch.stack import Stack
from worker.service.access import api_tokens

DESK_AGENCY = ("000.00.17.H19", "UBND xã Lai Vung", 82)  # in desk dispatch in web_stack
_TOKENS: dict[tuple[str, str], str] = {}


def stack_db(stack: Stack) -> Database:
    """The stack's embedded database, opened by this test process (dispose it after)."""
    return Database(f"sqlite:///{(stack.home / 'handoff.db').resolve()}")


def api_auth(stack: Stack, name: str = "e2e-lai-vung", agency: str | None = DESK_AGENCY[0]
             ) -> dict[str, str]:
    """The Authorization header of a desk API token made by the service `handoff token add`
    calls (once per stack and name; tests/unit/test_api_tokens.py runs the command itself);
    agency None makes an all-agency token."""
    key = (str(stack.home), name)
    if key not in _TOKENS:
        db = stack_db(stack)
        try:
            with db.unit_of_work() as s:
                _TOKENS[key] = api_tokens.create(s, name, agency_code=agency,
                                                 all_agencies=agency is None)[1]
        finally:
            db.dispose()
    return {"Authorization": f"Bearer {_TOKENS[key]}"}


def posts_closed(stack: Stack, codes: set[str]) -> bool:
    """Each of these dossiers has its post job, and every one is done: the worker has acted on
    them, and a done job is never tried again (so no second courier trip can follow)."""
    db = stack_db(stack)
    try:
        with db.unit_of_work() as s:
            states = s.execute(select(Handoff.dossier_code, Job.state)
                               .join(Job, Job.handoff_id == Handoff.id)
                               .where(Handoff.dossier_code.in_(codes),
                                      Job.kind == JobKind.POST_ORDER)).all()
    finally:
        db.dispose()
    return {c for c, _ in states} == codes and all(st == JobState.DONE for _, st in states)


def agency_items(factory: ItemFactory, n: int, defect: str | None = None,
                 agency: tuple[str, str, int] = DESK_AGENCY) -> list[dict]:
    """Feed items of one agency (the simulator picks agencies at random)."""
    code, name, province = agency
    items = []
    for _ in range(n):
        item = factory.make(defect=defect)
        when = datetime.fromisoformat(item["createdAt"])
        item["id"] = f"t_{uuid.uuid4().hex[:16]}"
        item["agency"] = {"code": code, "name": name}
        item["dossierCode"] = factory.dossier_code(code, when)
        item["citizen"]["provinceCode"] = str(province)
        item["citizen"]["wardCode"] = str(factory.rng.choice(wards_by_province()[province]))
        items.append(item)
    return items


def pending_codes(stack: Stack) -> set[str]:
    r = httpx.get(stack.web_url + "api/v1/pickups/pending", params={"agency": DESK_AGENCY[0]},
                  headers=api_auth(stack), timeout=30)
    assert r.status_code == 200, r.text
    return {i["dossierCode"] for i in r.json()["items"]}


def web_login(stack: Stack, username: str, password: str) -> tuple[httpx.Client, str]:
    """A logged-in HTTP client for the pages, and the session's CSRF token."""
    client = httpx.Client(base_url=stack.web_url, follow_redirects=False, timeout=60)
    r = login(client, username, password)
    assert r.status_code == 303, r.text
    # logging in starts a new session with a new token: read it from the next page
    return client, csrf(client.get(r.headers["location"], follow_redirects=True).text)
