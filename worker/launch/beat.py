"""Beat's scheduler: Celery's persistent one, but a due task that could not be sent drops
the broker connection and its producer, so the next one goes out on a fresh link.

Celery's beat keeps one producer for its whole life. When a publish fails on the broker
and kombu's reconnect fails too (the embedded broker's file locked past its busy timeout on
a loaded machine, a Redis restart at the wrong moment), that producer is left with a
closed channel, and every later publish fails at once with "channel disconnected", before
any reconnect is tried: the beat goes on ticking and sends nothing, for ever (celery issue
8845; seen in CI: a stack whose feed was never polled). Nothing is lost by a task beat did
not send: the next tick sends it again.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import click
from celery import bootsteps
from celery.beat import EmbeddedService, PersistentScheduler, SchedulingError

log = logging.getLogger(__name__)


class Scheduler(PersistentScheduler):
    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True,
                    **kwargs: Any) -> Any:
        try:
            return super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        except SchedulingError:
            self.reconnect_next()
            raise

    def reconnect_next(self) -> None:
        """Forget the producer and its connection: the next send makes both anew."""
        self.__dict__.pop("producer", None)
        connection = self.__dict__.pop("connection", None)
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.release()
        log.warning("beat: a due task could not be sent; the next goes on a new broker "
                    "connection")


class BeatThread(bootsteps.StartStopStep):  # type: ignore[misc]  # Celery is untyped
    """`handoff worker --beat`: the periodic rings sent from a thread of the worker's main
    process, Celery's embedded beat run as a thread (its `EmbeddedService(thread=True)`),
    not as the process Celery's own `--beat` forks. A forked beat held about 44 MB of PSS
    of its own in `make demo` for a loop that wakes once a second to send a message
    (bench/demo_memory.py); the thread adds little to the main process. It starts after
    the pool has forked its processes (`requires`). A pool process forked again later (one
    that died) must meet no lock the thread held at the fork: Celery makes the app's
    broker connections and producers anew in a forked child, and the embedded broker its
    engines' pools (worker/embedded_broker.py `_forget_inherited`). Stopping the worker
    stops the thread: its loop ends at its next tick (Celery's threaded beat ticks at least
    once a second: its `max_interval` is 1) and writes the schedule's file; a send stuck on
    the broker is not waited for longer than STOP_WAIT_S (nothing is lost by a ring not
    sent: the next tick sends it again)."""

    label = "BeatThread"
    conditional = True
    requires = ("celery.worker.components:Pool",)
    STOP_WAIT_S = 10.0

    def __init__(self, w: Any, beat_thread: bool = False, **kwargs: Any) -> None:
        self.enabled = bool(beat_thread)
        super().__init__(w, **kwargs)

    def create(self, w: Any) -> Any:
        return EmbeddedService(w.app, schedule_filename=w.schedule_filename,
                               scheduler_cls=w.scheduler, thread=True)

    def stop(self, parent: Any) -> None:
        if self.obj is not None:
            self.obj.service.stop()  # (Celery's own stop waits for it without a bound)
            self.obj.join(self.STOP_WAIT_S)

    terminate = stop


def add_beat_thread(app: Any) -> None:
    """The worker's `--beat-thread` option and the step it enables (`BeatThread`)."""
    app.user_options["worker"].add(click.Option(
        ("--beat-thread",), is_flag=True, default=False,
        help="Ring the periodic work from a thread of this worker (handoff worker --beat)."))
    app.steps["worker"].add(BeatThread)
