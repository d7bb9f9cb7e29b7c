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

from celery.beat import PersistentScheduler, SchedulingError

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
