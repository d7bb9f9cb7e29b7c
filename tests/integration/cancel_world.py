"""Both simulators on loopback and a runtime on SQLite, driven the way a worker drives them
(feed polls and ledger jobs called in turn): the world of the cancel tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from starlette.responses import JSONResponse

from integrations.carriers.vnpost import wire
from simulators.carrier.app import SimConfig, create_app
from simulators.onestop.app import serve_in_thread as serve_onestop
from simulators.serve import serve_in_thread
from tests.fakes import ListBell
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.models import Handoff, Job, utcnow
from worker.service.flow import feeds
from worker.service.jobs.runner import run_job
from worker.service.runtime import Runtime
from worker.settings import AgencyConfig, Settings

HOUR = 3600


@dataclass
class Gateway:
    """In front of the carrier simulator, as a broken proxy or a changed key would be: while
    `cancel_status` is set the cancel path answers it; while `token_status` is set, so does
    the token path; while `cancel_reply` is set, a cancel is answered 200 with that body
    (a carrier refusing for the moment). Every other request reaches the simulator."""

    app: Any
    cancel_status: int | None = None
    token_status: int | None = None
    cancel_reply: dict | None = None
    seen: list[str] = field(default_factory=list)

    def cancels_asked(self) -> int:
        return sum(1 for p in self.seen if p.endswith(wire.CANCEL_PATH))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.seen.append(path)
        cancel = path.endswith(wire.CANCEL_PATH)
        status = (self.cancel_status if cancel else
                  self.token_status if path == f"/{wire.TOKEN_PATH}" else None)
        if status is not None:
            answer = JSONResponse({"message": f"refused by the gateway ({status})"}, status)
        elif cancel and self.cancel_reply is not None:
            answer = JSONResponse(self.cancel_reply)
        else:
            await self.app(scope, receive, send)
            return
        await answer(scope, receive, send)


@dataclass
class World:
    rt: Runtime
    carrier: httpx.Client  # the carrier simulator's admin door
    onestop: httpx.Client  # the one-stop simulator's admin door
    gateway: Gateway

    def admin(self, http: httpx.Client, path: str, body: dict | None = None) -> dict:
        r = http.post(path, json=body) if body is not None else http.get(path)
        r.raise_for_status()
        return r.json()

    def drain(self) -> None:
        """Run every due ledger row until none is left to run (what a worker would do)."""
        for _ in range(50):
            with self.rt.db.unit_of_work() as s:
                due = list(s.scalars(select(Job.id).where(
                    Job.state == "pending", Job.next_attempt_at <= utcnow()).order_by(Job.id)))
            if not due:
                return
            for job_id in due:
                run_job(self.rt, job_id)
        raise AssertionError("the ledger never drained")

    def handoff(self, code: str) -> Handoff:
        with self.rt.db.unit_of_work() as s:
            h = s.scalars(select(Handoff).where(Handoff.dossier_code == code)).one()
            s.expunge(h)
            return h

    def cancel_jobs(self, code: str) -> list[tuple[str, str]]:
        """(state, idempotency key) of the dossier's cancel jobs, oldest first."""
        with self.rt.db.unit_of_work() as s:
            return [(j.state, j.idempotency_key) for j in s.scalars(
                select(Job).join(Handoff, Handoff.id == Job.handoff_id)
                .where(Handoff.dossier_code == code, Job.kind == "cancel_order")
                .order_by(Job.id))]

    def pushes(self, code: str) -> list[dict]:
        return self.admin(self.onestop, f"_admin/events?dossier={code}")["events"]

    def carrier_stats(self) -> dict:
        return self.admin(self.carrier, "_admin/stats")

    def withdraw(self, item: dict, n: int) -> None:
        self.admin(self.onestop, "_admin/handoffs", {"items": [{
            "id": f"hof_withdraw_{n}", "type": "handoff_cancelled",
            "dossierCode": item["dossierCode"], "procedure": item["procedure"],
            "agency": item["agency"], "codAmount": 0,
            "createdAt": "2026-11-26T10:00:00+07:00", "note": "Công dân rút yêu cầu"}]})
        feeds.poll_onestop(self.rt)

    def posted(self, count: int = 1) -> list[dict]:
        """`count` result deliveries taken from the one-stop feed, accepted by the carrier."""
        items = self.admin(self.onestop, "_admin/handoffs", {"count": count,
                                                             "type": "result_ready"})["items"]
        feeds.poll_onestop(self.rt)
        self.drain()
        assert {self.handoff(i["dossierCode"]).status for i in items} == {"accepted"}
        return items


@contextmanager
def world_on(db: Database, home: Path) -> Iterator[World]:
    gateway = Gateway(create_app(SimConfig(seed=3, return_rate=0.0, pickup_fail_rate=0.0)))
    carrier_url, stop_carrier = serve_in_thread(gateway, "carrier-gateway")
    onestop_url, stop_onestop = serve_onestop()
    settings = Settings(home=home, database_url=str(db.engine.url),
                        carrier_base_url=carrier_url, onestop_base_url=onestop_url + "/",
                        agencies={"000.00.21.H19": AgencyConfig(dispatch="desk")})
    rt = build_runtime(settings=settings, db=db, bell=ListBell())  # drain() plays the worker
    try:
        with httpx.Client(base_url=carrier_url, timeout=5) as c, \
                httpx.Client(base_url=onestop_url + "/", timeout=5) as o:
            yield World(rt, c, o, gateway)
    finally:
        rt.carrier_for(rt.default_account).close()
        rt.onestop.close()
        stop_carrier()
        stop_onestop()
