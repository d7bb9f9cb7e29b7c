"""The calls of a pool process in flight, across its bell messages: one pool of threads
making the calls and one thread settling their answers, both living as long as the process.

A message's task returns once at most a thread's worth of its rows (`job_threads`) still
wait for a thread (together.py): its last calls are in flight and its last rows queued
while the process takes the next message and claims its rows, and the threads go on from
one message's rows to the next without running dry. Before, each message ended by waiting
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

import heapq
import itertools
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

# How long a pool replaced (a new thread count) is given to settle its calls first.
DRAIN_S = 20.0

Settle = Callable[["Runtime", list["Answer"]], None]


class Inflight:
    """One pool process's threads, its settler, and the thread that gives back the rows
    still waiting for a thread at their time (`give_back_at`)."""

    def __init__(self, threads: int, settle: Settle) -> None:
        self.threads = threads
        self.pid = os.getpid()
        self._settle = settle
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="job")
        self._answers: queue.Queue[tuple[Runtime, Future[Answer], Taken]] = queue.Queue()
        self._open = 0  # submitted, not yet settled (and what their settles queued, rung)
        self._running: dict[object, float] = {}  # calls running: when each started
        self._changed = threading.Condition()
        self._stopped = False
        # (when, its number, the call): calls cancelled if not started by then
        self._late: list[tuple[float, int, Future[Answer]]] = []
        self._late_changed = threading.Condition()
        self._numbered = itertools.count()
        threading.Thread(target=self._settle_forever, name="settler", daemon=True).start()
        threading.Thread(target=self._give_back_late_forever, name="late", daemon=True).start()

    def submit(self, rt: Runtime, taken: Taken, call: Callable[..., Answer], *args: Any,
               give_back_at: float | None = None) -> Future[Answer]:
        """Run `call(*args)` on a free thread; its answer (or, cancelled before it started,
        the row given back untried) is settled by the settler. A call not started by
        `give_back_at` (monotonic) is cancelled then, whether or not its task still waits:
        a row left queued behind calls that take long is given back for the sweep before its
        lease can run out (its try then counted by another worker's claim, never made)."""
        with self._changed:
            self._open += 1
            try:
                if self._stopped:  # the process ends: the row is given back untried, as
                    future: Future[Answer] = Future()  # one cancelled in the queue
                    future.cancel()
                else:
                    future = self._pool.submit(self._timed, call, *args)
            except BaseException:  # (no thread could be started: left to its lease)
                self._open -= 1
                raise
        future.add_done_callback(lambda f: self._answers.put((rt, f, taken)))
        if give_back_at is not None and not future.done():
            with self._late_changed:
                heapq.heappush(self._late, (give_back_at, next(self._numbered), future))
                if self._late[0][2] is future:
                    self._late_changed.notify()
        return future

    def _give_back_late_forever(self) -> None:
        while True:
            with self._late_changed:
                while not self._late or self._late[0][0] > time.monotonic():
                    wait = self._late[0][0] - time.monotonic() if self._late else None
                    self._late_changed.wait(wait)
                due = []
                while self._late and self._late[0][0] <= time.monotonic():
                    due.append(heapq.heappop(self._late)[2])
            for future in due:
                future.cancel()  # (nothing for a call started or done)

    def _timed(self, call: Callable[..., Answer], *args: Any) -> Answer:
        token = object()
        self._running[token] = time.monotonic()
        try:
            return call(*args)
        finally:
            del self._running[token]

    @property
    def open(self) -> int:
        return self._open

    @property
    def stopping(self) -> bool:
        """The process ends (or the pool was replaced): it takes no more rows."""
        return self._stopped

    def oldest_call(self) -> float:
        """Seconds the longest-running call has run (0.0: none running)."""
        started = list(self._running.copy().values())  # (a dict's copy is atomic)
        return time.monotonic() - min(started) if started else 0.0

    def stop(self, timeout: float) -> bool:
        """For the process's end: the calls not started are given back (cancelled: the
        settler releases their rows), those running are waited for and settled."""
        with self._changed:  # (a submit after this gives its row back: `_stopped`)
            self._stopped = True
            self._pool.shutdown(wait=False, cancel_futures=True)
        return self.settled(timeout)

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
                _log_safely("ringing settled rows failed (the sweep rings them)", err)
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
                left = ring_by - time.monotonic()
                if left <= 0:  # (a get finds a queued answer even with no time left)
                    return
                try:
                    item = self._answers.get(timeout=left)
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
            _log_safely(f"{len(answers)} answers not settled", err)
        return len(batch)


class Countdown:
    """Rows handed over to the threads and not yet started (together.py: a message's, or a
    settle's)."""

    def __init__(self) -> None:
        self._left = 0
        self._changed = threading.Condition()

    def add(self) -> None:
        with self._changed:
            self._left += 1

    def done(self) -> None:
        with self._changed:
            self._left -= 1
            self._changed.notify_all()

    def done_if_cancelled(self, call: Future[Answer]) -> None:
        if call.cancelled():
            self.done()

    def wait(self, most: int, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._left <= most, max(0.0, timeout))


def _log_safely(what: str, err: BaseException) -> None:
    try:
        log.error("%s: %s", what, scrub(f"{type(err).__name__}: {err}"))
    except BaseException:  # noqa: BLE001, S110 (an error's text that cannot be shown)
        pass


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
    thread count, as tests set, makes a new pool once the old one has settled its calls)."""
    global _current
    with _lock:
        if _current is not None and _current.pid == os.getpid() \
                and _current.threads != threads:
            _current.stop(DRAIN_S)
            _current = None
        if _current is None or _current.pid != os.getpid():
            _current = Inflight(threads, settle)
        return _current


def current() -> Inflight | None:
    """This process's pool, if it has one (its settler hands rows over to it)."""
    return _mine()


def _mine() -> Inflight | None:
    current = _current
    return current if current is not None and current.pid == os.getpid() else None


def settled(timeout: float) -> bool:
    """Wait until this process's calls in flight are settled (none: at once)."""
    current = _mine()
    return current.settled(timeout) if current is not None else True


def stop(timeout: float) -> bool:
    """The process ends: its calls not started are given back, those running settled (a
    later message would get a new pool)."""
    global _current
    with _lock:
        current, _current = _mine(), None
    return current.stop(timeout) if current is not None else True
