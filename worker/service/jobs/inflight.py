"""The calls of a pool process in flight, across its bell messages: one pool of threads
making the calls and one thread settling their answers, both living as long as the process.

A message's task returns once each of its rows has started (together.py): its last calls
are still in flight while the process takes the next message and claims its rows, and the
threads go on from one message's rows to the next. Before, each message ended by waiting
for its last answers and settling them, then the next one was claimed: meanwhile the
process sent nothing, and with one shared quota both processes of a worker reached that
point together (benchmark 1: a fifth of the post office's quota left unused).

Nothing is lost by it: an answer is settled as before, by the settler instead of the task
(the answers that come within GATHER of one in hand, in one transaction); a process that
ends normally settles what is in flight first (`settled`, from the pool process's shutdown
signal, worker/tasks.py); one that dies leaves its claimed rows to their leases and the
sweep, as it always did. The rows claimed and not yet settled stay bounded: a task returns
only once at most about one message's rows are left unsettled (`wait_below`).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from worker.domain.privacy import scrub
from worker.service.jobs.runner import Answer
from worker.service.ledger import uow

if TYPE_CHECKING:
    from worker.service.jobs.runner import Taken
    from worker.service.runtime import Runtime

log = logging.getLogger(__name__)

# Answers that come within this many seconds of one in hand are settled with it, in one
# transaction (each settle transaction costs its round trips and its commit; a post office
# answering at once sends a batch's answers a few milliseconds apart).
GATHER = 0.02

# The rows the settles of this many seconds queue (a hand-off's next push-back, say) are
# rung together, in messages of up to `job_batch` rows: rung after each settle, they made
# messages of a few rows each, and each message costs a pool process a task's round (its
# claim, its wait), during which no post was started (benchmark 1).
RING_GATHER = 0.1

Settle = Callable[["Runtime", list["Answer"]], None]


class Inflight:
    """One pool process's threads and its settler."""

    def __init__(self, threads: int, settle: Settle) -> None:
        self.threads = threads
        self.pid = os.getpid()
        self._settle = settle
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="job")
        self._answers: queue.Queue[tuple[Runtime, Future[Answer], Taken]] = queue.Queue()
        self._open = 0  # submitted, not yet settled
        self._changed = threading.Condition()
        threading.Thread(target=self._settle_forever, name="settler", daemon=True).start()

    def submit(self, rt: Runtime, taken: Taken, call: Callable[..., Answer],
               *args: Any) -> Future[Answer]:
        """Run `call(*args)` on a free thread; its answer (or, cancelled before it started,
        the row given back untried) is settled by the settler."""
        with self._changed:
            self._open += 1
        future = self._pool.submit(call, *args)
        future.add_done_callback(lambda f: self._answers.put((rt, f, taken)))
        return future

    def wait_below(self, most: int, timeout: float) -> bool:
        """Wait until at most `most` rows are left unsettled (False: `timeout` passed)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._open <= most, max(0.0, timeout))

    def settled(self, timeout: float) -> bool:
        """Wait until every answer handed over so far is settled."""
        return self.wait_below(0, timeout)

    def _settle_forever(self) -> None:
        while True:
            rt, future, taken = self._answers.get()
            done = [0]
            try:
                self._settle_window(rt, [(future, taken)], done)
            except BaseException as err:  # noqa: BLE001 (the settler must never stop)
                log.error("ringing settled rows failed: %s (the sweep rings them)",
                          scrub(f"{type(err).__name__}: {err}"))
            finally:
                with self._changed:  # settled, and what they queued rung
                    self._open -= done[0]
                    self._changed.notify_all()

    def _settle_window(self, rt: Runtime, batch: list[tuple[Future[Answer], Taken]],
                       done: list[int]) -> None:
        """Settle the answers of RING_GATHER seconds as they come, and ring the rows they
        queued once, at its end (`done[0]`: how many were taken from the queue)."""
        ring_by = time.monotonic() + RING_GATHER
        with uow.batch(rt):
            while True:
                done[0] += self._settle_some(rt, self._gathered(rt, batch))
                try:
                    item = self._answers.get(timeout=max(0.0, ring_by - time.monotonic()))
                except queue.Empty:
                    return
                if item[0] is not rt:  # another runtime's (tests): after this ring
                    self._answers.put(item)
                    return
                batch = [item[1:]]

    def _gathered(self, rt: Runtime, batch: list[tuple[Future[Answer], Taken]]
                  ) -> list[tuple[Future[Answer], Taken]]:
        """`batch` and the answers of `rt` that come within GATHER of its first."""
        ends = time.monotonic() + GATHER
        while (left := ends - time.monotonic()) > 0:
            try:
                item = self._answers.get(timeout=left)
            except queue.Empty:
                break
            if item[0] is not rt:
                self._answers.put(item)
                break
            batch.append(item[1:])
        return batch

    def _settle_some(self, rt: Runtime, batch: list[tuple[Future[Answer], Taken]]) -> int:
        answers = [a for f, t in batch if (a := _answer(f, t)) is not None]
        try:
            self._settle(rt, answers)
        except BaseException as err:  # noqa: BLE001 (the settler must never stop)
            # left to their leases and the sweep, as answers never settled
            log.error("%d answers not settled: %s", len(answers),
                      scrub(f"{type(err).__name__}: {err}"))
        return len(batch)


def _answer(future: Future[Answer], taken: Taken) -> Answer | None:
    if future.cancelled():  # never started: given back untried
        return Answer(taken, None, None, 0, sent=False)
    err = future.exception()
    if err is not None:  # the call never raises (runner.perform); left to its lease
        log.error("job %s: its call raised %s", taken.job.id, type(err).__name__)
        return None
    return future.result()


_current: Inflight | None = None
_lock = threading.Lock()


def for_process(threads: int, settle: Settle) -> Inflight:
    """This process's (a forked child makes its own: threads do not survive a fork; a new
    thread count, as tests set, makes a new pool, the old one finishing what it has)."""
    global _current
    with _lock:
        if _current is None or _current.pid != os.getpid() or _current.threads != threads:
            _current = Inflight(threads, settle)
        return _current


def settled(timeout: float) -> bool:
    """Wait until this process's calls in flight are settled (none: at once)."""
    current = _current
    if current is None or current.pid != os.getpid():
        return True
    return current.settled(timeout)
