"""A page's unit of work, run off the event loop: `reading` looks, `writing` changes and rings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from worker.service.ledger import uow
from worker.service.runtime import Runtime

T = TypeVar("T")


async def reading(rt: Runtime, work: Callable[..., T], *args: Any) -> T:
    """`work(session, *args)` in a read-only unit of work (uow.read), in a thread."""

    def run() -> T:
        with uow.read(rt) as s:
            return work(s, *args)

    return await run_in_threadpool(run)


async def writing(rt: Runtime, work: Callable[..., T], *args: Any) -> T:
    """`work(session, *args)` in a unit of work that commits, then rings what it queued."""

    def run() -> T:
        with uow.begin(rt) as s:
            return work(s, *args)

    return await run_in_threadpool(run)
