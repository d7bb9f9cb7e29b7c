"""Fakes of the core's ports and a fake clock for the service tests (passed to Runtime)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.fakes import ListBell
from worker.db.engine import Database
from worker.db.models import Job
from worker.domain.errors import CancelRefused, HandoffError
from worker.domain.model import CarrierOrder, FeedPage, OnestopPage, PostOutcome, StatusPush
from worker.ports import CarrierPort, NotifierPort, OnestopPort


@dataclass
class Fault:
    error: HandoffError
    lose_reply: bool = False  # the other side did the work, then its reply was lost


class Faults:
    """Scripted failures: the next calls of an operation raise these, in order."""

    def __init__(self) -> None:
        self._next: dict[str, list[Fault]] = {}

    def fail_next(self, op: str, error: HandoffError, times: int = 1, *,
                  lose_reply: bool = False) -> None:
        self._next.setdefault(op, []).extend(Fault(error, lose_reply) for _ in range(times))

    def take(self, op: str) -> Fault | None:
        queue = self._next.get(op) or []
        return queue.pop(0) if queue else None


@dataclass
class HeldOrder:
    """An order as the carrier keeps it: created once, posted once or more."""

    order: CarrierOrder
    posts: int = 1
    cancelled: bool = False


class FakeCarrier(CarrierPort):
    """Keeps orders by OrderNumber: a new number is answered 100 (created), a known one 101
    (already exists, never a second order). Cancels answer 100 unless told to refuse."""

    def __init__(self) -> None:
        self.orders: dict[str, HeldOrder] = {}
        self.calls: list[tuple[str, str]] = []  # ("post" | "cancel", order number), in order
        self.faults = Faults()
        self.refuse_cancels = False
        self.while_posting: Callable[[], None] | None = None  # runs once, mid-call
        self.while_cancelling: Callable[[], None] | None = None  # runs once, mid-call

    def post_order(self, order: CarrierOrder) -> PostOutcome:
        self.calls.append(("post", order.order_number))
        if self.while_posting is not None:
            hook, self.while_posting = self.while_posting, None
            hook()
        fault = self.faults.take("post")
        if fault is not None and not fault.lose_reply:
            raise fault.error
        held = self.orders.get(order.order_number)
        if held is None:
            self.orders[order.order_number] = HeldOrder(order)
        else:
            held.posts += 1
        if fault is not None:
            raise fault.error
        if held is None:
            return PostOutcome(already_existed=False, message="Tạo đơn thành công")
        return PostOutcome(already_existed=True, message="Đơn hàng đã tồn tại")

    def cancel_order(self, order_number: str) -> str:
        self.calls.append(("cancel", order_number))
        if self.while_cancelling is not None:
            hook, self.while_cancelling = self.while_cancelling, None
            hook()
        fault = self.faults.take("cancel")
        if fault is not None:
            raise fault.error
        held = self.orders.get(order_number)
        if self.refuse_cancels or held is None:
            raise CancelRefused("bưu điện từ chối hủy đơn (Status 105): bưu tá đã lấy hàng",
                                code="105")
        held.cancelled = True
        return "Hủy đơn thành công"

    def fetch_events(self, last_id: str | None, page_size: int = 1000) -> FeedPage:
        return FeedPage([], last_id or "")

    def close(self) -> None:
        pass

    def created(self) -> int:
        return len(self.orders)

    def posted_numbers(self) -> list[str]:
        return [number for op, number in self.calls if op == "post"]


class FakeOnestop(OnestopPort):
    """Records every status pushed to it, in the order they arrived; a repeated eventId is
    answered "had it already" and recorded once."""

    def __init__(self) -> None:
        self.pushes: list[StatusPush] = []
        self.faults = Faults()

    def fetch_handoffs(self, after: str | None, limit: int = 500) -> OnestopPage:
        return OnestopPage([], after)

    def push_status(self, push: StatusPush) -> bool:
        fault = self.faults.take("push")
        if fault is not None:
            raise fault.error
        if any(p.event_id == push.event_id for p in self.pushes):
            return True
        self.pushes.append(push)
        return False

    def get_dossier(self, dossier_code: str) -> dict:
        return {}

    def close(self) -> None:
        pass

    def statuses(self, dossier_code: str) -> list[str]:
        return [p.status.value for p in self.pushes if p.dossier_code == dossier_code]


class FakeNotifier(NotifierPort):
    """Keeps every notification delivered (message id, body); fails when told to."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.tries = 0
        self.faults = Faults()

    def notify(self, message_id: str, body: Mapping[str, Any]) -> None:
        self.tries += 1
        fault = self.faults.take("notify")
        if fault is not None:
            raise fault.error
        self.sent.append((message_id, dict(body)))

    def close(self) -> None:
        pass


class CommittedBell(ListBell):
    """A list bell that fails any ring of a row another connection cannot read yet: every
    ring of the service tests is proof that the unit of work rang after its commit.

    It reads through a plain sqlite3 connection: in WAL mode a reader never waits for the
    writer (the engine's own sessions would, as they BEGIN IMMEDIATE)."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.path = db.url.split("///", 1)[1]

    def ring(self, job_ids: Sequence[int], *, first: bool = False) -> int:
        ids = list(job_ids)
        with closing(sqlite3.connect(self.path)) as conn:
            marks = ",".join("?" * len(ids))
            seen = {row[0] for row in conn.execute(
                f"SELECT id FROM jobs WHERE id IN ({marks})", ids)} if ids else set()
        assert seen == set(ids), f"rung before commit: {sorted(set(ids) - seen)}"
        return super().ring(ids, first=first)


class LedgerClock:
    """Time passing for the ledger, without sleeping.

    run_job, the settle functions and the sweep read the wall clock (db.models.utcnow) and
    take no clock of their own. Every rule they apply compares "now" with a row's
    next_attempt_at, locked_until or rung_at, so moving those back by d is, for the ledger,
    the clock moving forward by d.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def advance(self, seconds: float) -> None:
        d = timedelta(seconds=seconds)
        with self.db.unit_of_work() as s:
            for job in s.scalars(select(Job)):
                job.next_attempt_at -= d
                if job.locked_until is not None:
                    job.locked_until -= d
                if job.rung_at is not None:
                    job.rung_at -= d
