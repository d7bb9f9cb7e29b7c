"""Leases: one holder at a time, each process its own holder, a first caller takes a new one."""

from __future__ import annotations

import multiprocessing

from worker.db.engine import Database
from worker.service import leases


def test_the_first_caller_takes_a_new_lease_and_others_wait(sqlite_db: Database):
    db = sqlite_db
    with db.unit_of_work() as s:
        assert leases.acquire(s, "poll:x", 60, holder="a")
    with db.unit_of_work() as s:
        assert not leases.acquire(s, "poll:x", 60, holder="b")
        assert leases.acquire(s, "poll:x", 60, holder="a")  # renewal by the holder
        leases.release(s, "poll:x", holder="b")  # not b's to give back
    with db.unit_of_work() as s:
        assert not leases.acquire(s, "poll:x", 60, holder="b")
        leases.release(s, "poll:x", holder="a")
    with db.unit_of_work() as s:
        assert leases.acquire(s, "poll:x", 60, holder="b")


def _child_holder(queue) -> None:  # type: ignore[no-untyped-def]
    queue.put(leases.current_holder())


def test_forked_pool_processes_are_different_holders():
    """A prefork worker imports the module once, then forks: holders must still differ."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child_holder, args=(queue,)) for _ in range(2)]
    for p in procs:
        p.start()
    holders = {queue.get(timeout=10) for _ in procs}
    for p in procs:
        p.join()
    assert len(holders) == 2 and leases.current_holder() not in holders
