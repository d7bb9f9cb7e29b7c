"""The embedded default broker: kombu's SQLAlchemy transport on an SQLite file, tuned.

Why not kombu's filesystem transport: under load a consumer can read a message file before
the producer has finished writing it, and the JSON error kills the worker's consumer (seen
in our flow test). The SQLAlchemy transport reads under BEGIN IMMEDIATE, so it cannot.
Three changes to it: a short polling interval (the default 1 s caps a worker at about two
tasks a second), a generous SQLite busy timeout (worker, beat and web share the file), and a
queue created by another process between kombu's look and its insert taken as found (kombu
guards that race with a lock of its own process only; the lost insert's IntegrityError
stopped a worker's consumer at start-up on a loaded machine).

Two more, for a worker that runs for months on a small machine:

- A message is deleted when it is taken. kombu's transport only marks it invisible and never
  reads it again, so the table grew by every message ever sent, and each poll (a scan in
  send order past every taken row) grew with it. Nothing is lost by deleting: a message
  taken and not acknowledged is the worker's (kombu requeues it with a new row should the
  worker give it back), and the ledger's sweep rings again whatever a lost message left.
- Consumers sleep until told instead of polling every 50 ms (`Wakeup`): each publish sends
  a one-byte datagram to every consumer of the same broker file, and an acknowledgement
  wakes its own consumer (a slot became free). A consumer still looks once a second when
  nothing told it (a missed wake-up costs a second, never a message). Idle, a worker's
  main process polled 20 times a second (2.3 s of CPU in 30 s on this machine).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import socket
import sys
import time
from pathlib import Path
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Channel as _Channel
from kombu.transport.sqlalchemy import Transport as _Transport
from kombu.transport.virtual.base import Empty
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from kombu.utils.scheduling import FairCycle
from sqlalchemy import create_engine, delete, text
from sqlalchemy.exc import IntegrityError, OperationalError

_SWEPT: set[str] = set()  # broker files whose taken messages this process deleted

SCHEME = "handoffsqlite"
URL_PREFIX = f"{SCHEME}+"
POLLING_INTERVAL = 0.05  # where wake-ups cannot be had (not Linux): kombu's polling
IDLE_LOOK = 1.0  # a consumer told nothing looks again after this many seconds


class FirstQueueFirst(FairCycle):  # type: ignore[misc]  # kombu is untyped
    """Each look starts at the first queue consumed from, as kombu's Redis transport does
    with queue_order_strategy "priority": the queues in the order `handoff worker` names
    them, the periodic rings', the carrier's rows', the other rows' (worker/launch/queues.py)."""

    def get(self, callback: Any, **kwargs: Any) -> Any:
        self.pos = 0
        return super().get(callback, **kwargs)


class Channel(_Channel):
    def _reset_cycle(self) -> None:
        self._cycle = FirstQueueFirst(self._get_and_deliver, self._active_queues, Empty)

    def _engine_from_config(self) -> Any:
        conninfo = self.connection.client
        return create_engine(conninfo.hostname, connect_args={"timeout": 60},
                             hide_parameters=True)  # like every engine of ours

    def _get_or_create(self, queue: str) -> Any:
        try:
            return super()._get_or_create(queue)
        except IntegrityError:  # another process created it meanwhile: the unique name decides
            self.session.rollback()
            found = self.session.query(self.queue_cls).filter(self.queue_cls.name == queue).first()
            if found is None:
                raise
            return found

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        """kombu's, but the message taken is deleted, not marked invisible (module doc)."""
        try:
            obj = self._get_or_create(queue)
            self._forget_taken()
            session, cls = self.session, self.message_cls
            session.execute(text("BEGIN IMMEDIATE TRANSACTION"))
            try:
                msg = (session.query(cls).filter(cls.queue_id == obj.id, cls.visible != False)  # noqa: E712
                       .order_by(cls.sent_at).order_by(cls.id).limit(1).first())
                if msg is None:
                    raise Empty()
                payload = msg.payload
                session.delete(msg)
                return loads(bytes_to_str(payload))
            finally:
                session.commit()
        except OperationalError:
            # kombu commits in a `finally:` and never rolls back: after a failed commit (the
            # disk full) the session kept its connection and SQLite's write lock, each
            # reconnect left another, and the pool ran dry (the worker died of a QueuePool
            # timeout). End the transaction; the consumer reconnects as for any broker error.
            self.session.rollback()
            raise

    def _forget_taken(self) -> None:
        """Once a process: delete what kombu's own transport left marked taken (a broker
        file from before this version), so the scans start short."""
        url = self.connection.client.hostname
        if url in _SWEPT:
            return
        cls = self.message_cls
        self.session.execute(delete(cls).where(cls.visible == False))  # noqa: E712
        self.session.commit()
        _SWEPT.add(url)

    def _put(self, queue: Any, payload: Any, **kwargs: Any  # type: ignore[override]
             ) -> None:  # (kombu's two stubs of _put disagree)
        super()._put(queue, payload, **kwargs)
        self._wakeup("ring")  # committed: every consumer of the file looks now

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple=multiple)
        self._wakeup("nudge")  # a slot is free: this process's consumer looks now

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue=requeue)
        self._wakeup("nudge")

    def _wakeup(self, how: str) -> None:
        """A wake-up is a hint: a channel already closed (an acknowledgement after the
        channel gave its messages back) or any failure sends none, and raises nothing."""
        transport = self.connection
        if transport is not None:
            with contextlib.suppress(Exception):
                getattr(transport.wakeup, how)()

    def close(self) -> None:
        if self._session is not None:  # give its connection back to the pool
            self._session.close()
            self._session = None
        super().close()


# This process's listening sockets, by broker file (the tag) and shared by every Transport of
# the process on that file: a consumer that reconnects finds its name still bound by the
# Transport it left, so it takes that socket over instead of falling back to polling. A
# child process (a prefork pool's) drops what it inherited: its parent listens, not it.
_LISTENING: dict[str, tuple[int, socket.socket, select.poll]] = {}
_SENDER: list[tuple[int, socket.socket]] = []


def _forget_inherited() -> None:
    for tag, (_, sock, _) in list(_LISTENING.items()):
        sock.close()  # (the parent's own descriptor stays open: its name stays bound)
        del _LISTENING[tag]
    for _, sender in _SENDER:
        sender.close()
    _SENDER.clear()
    # kombu keeps the broker file's engines in a class-wide cache: a child's are new pools,
    # never the parent's connections, nor a pool lock another thread of the parent held at
    # the fork (the worker's beat thread, worker/launch/beat.py, publishes on them). The
    # parent's connections are left open for the parent (SQLAlchemy's way after a fork).
    for engine, _ in _Channel._engines.values():
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited)


class Wakeup:
    """The consumers of one broker file sleep on a datagram socket each, and a publish wakes
    them all. Each consumer process binds an abstract socket (Linux) named by the broker
    file and its pid, and keeps an empty file named by its pid in `<broker file>.wake/`;
    a publisher sends one byte to each pid listed there and removes the files of processes
    gone. Wake-ups are a hint, never a duty: a failure to send one is ignored, and a
    consumer still looks once in IDLE_LOOK. Elsewhere than Linux `available()` is False and
    kombu polls as before. Anyone on the machine can send to an abstract name: the bytes
    are thrown away, and a consumer looks at most once in MIN_GAP however many arrive."""

    MIN_GAP = 0.01

    def __init__(self, broker_path: str) -> None:
        self.folder = Path(broker_path + ".wake")
        self.tag = hashlib.sha256(str(self.folder.resolve()).encode()).hexdigest()[:20]
        self._last_wake = 0.0

    def available(self) -> bool:
        return sys.platform == "linux" and self._listener() is not None

    def _name(self, pid: int | str) -> str:
        return f"\0postal-handoff-broker/{self.tag}/{pid}"

    def _listener(self) -> tuple[int, socket.socket, select.poll] | None:
        pid = os.getpid()
        found = _LISTENING.get(self.tag)
        if found is not None and found[0] == pid:
            return found
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(self._name(pid))
            sock.setblocking(False)
            self._register(pid)
        except OSError:
            return None  # (the name taken, the folder not writable): kombu's polling
        poller = select.poll()  # (no limit on the descriptor's number, unlike select)
        poller.register(sock, select.POLLIN)
        _LISTENING[self.tag] = (pid, sock, poller)
        return _LISTENING[self.tag]

    def _register(self, pid: int) -> None:
        self.folder.mkdir(exist_ok=True)
        (self.folder / str(pid)).touch()

    def wait(self, seconds: float) -> None:
        """Until a wake-up arrives or `seconds` pass; the wake-ups waiting are read away."""
        found = self._listener()
        if found is None:
            time.sleep(min(seconds, POLLING_INTERVAL))
            return
        pid, sock, poller = found
        gap = self._last_wake + self.MIN_GAP - time.monotonic()
        if gap > 0:
            time.sleep(gap)  # many wake-ups in a row: at most one look per gap
        if poller.poll(seconds * 1000):
            self._last_wake = time.monotonic()
            with contextlib.suppress(OSError):
                while sock.recv(64):
                    pass
        elif not (self.folder / str(pid)).exists():  # a publisher took it for a dead one's
            with contextlib.suppress(OSError):
                self._register(pid)

    def nudge(self) -> None:
        """Wake this process's own consumer (an acknowledgement freed a slot)."""
        found = _LISTENING.get(self.tag)
        if found is not None and found[0] == os.getpid():
            self._send(str(found[0]))

    def ring(self) -> None:
        """Wake every consumer of the broker file (after a message was committed)."""
        try:
            pids = [e.name for e in os.scandir(self.folder) if e.name.isdigit()]
        except OSError:
            return  # no consumer has listened yet: they poll at start anyway
        for pid in pids:
            if not self._send(pid):
                with contextlib.suppress(OSError):
                    (self.folder / pid).unlink()

    def _send(self, pid: str) -> bool:
        """False when no process listens under `pid` any more; any other failure is
        ignored (a wake-up is a hint: the message is committed whatever happens here)."""
        try:
            if not _SENDER or _SENDER[0][0] != os.getpid():
                sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sender.setblocking(False)
                _SENDER[:] = [(os.getpid(), sender)]
            _SENDER[0][1].sendto(b"!", self._name(pid))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            pass  # its buffer full (it has wake-ups waiting already), or no socket to be had
        return True


class Transport(_Transport):
    Channel = Channel
    polling_interval = POLLING_INTERVAL

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        path = client.hostname.removeprefix("sqlite:///")
        self.wakeup = Wakeup(path)

    def drain_events(self, connection: Any, timeout: float | None = None  # type: ignore[override]
                     ) -> None:
        """kombu's loop, but an empty look waits for a wake-up (or IDLE_LOOK), not 50 ms."""
        if not self.wakeup.available():
            return super().drain_events(connection, timeout=timeout)
        get = self.cycle.get  # type: ignore[attr-defined]  # (set by kombu's __init__)
        started = time.monotonic()
        while True:
            try:
                get(self._deliver, timeout=timeout)
                return None
            except Empty:
                left = IDLE_LOOK if timeout is None else timeout - (time.monotonic() - started)
                if left <= 0:
                    raise TimeoutError() from None
                self.wakeup.wait(min(left, IDLE_LOOK))


def register() -> None:
    """Make the scheme known to kombu (kombu refuses import paths inside URLs)."""
    TRANSPORT_ALIASES.setdefault(SCHEME, "worker.embedded_broker:Transport")


register()


def url_for(path: str) -> str:
    return f"{URL_PREFIX}sqlite:///{path}"
