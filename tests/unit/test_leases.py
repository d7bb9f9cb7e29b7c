"""Leases: one holder at a time, each process its own holder, a first caller takes a new one."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from tests.fakes import ListBell
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.service.ledger import leases
from worker.settings import Settings


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


def test_a_held_lease_is_given_back_when_the_block_ends_even_by_an_error(
        sqlite_db: Database, tmp_path: Path):
    rt = build_runtime(Settings(home=tmp_path), sqlite_db, bell=ListBell())
    with pytest.raises(RuntimeError), leases.held(rt, "sla") as got:
        assert got
        with sqlite_db.unit_of_work() as s:
            assert not leases.acquire(s, "sla", 60, holder="other")  # ours while in the block
        raise RuntimeError("the pass failed")
    with sqlite_db.unit_of_work() as s:
        assert leases.acquire(s, "sla", 60, holder="other")


def test_held_says_no_while_another_holds_the_lease_and_leaves_it_theirs(
        sqlite_db: Database, tmp_path: Path):
    rt = build_runtime(Settings(home=tmp_path), sqlite_db, bell=ListBell())
    with sqlite_db.unit_of_work() as s:
        assert leases.acquire(s, "sweep", 60, holder="other")
    ran = []
    with leases.held(rt, "sweep") as got:
        if got:
            ran.append(True)
    assert ran == []
    with sqlite_db.unit_of_work() as s:
        assert not leases.acquire(s, "sweep", 60, holder="third")  # still the other's
