"""The embedded broker: a queue another process created between kombu's look and its insert
is taken as found, never an error that stops a consumer; a message taken is deleted; a
consumer sleeps until a publish wakes it."""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kombu import Connection, Consumer, Exchange, Queue
from kombu.message import Message
from sqlalchemy.orm import Query

from worker import embedded_broker
from worker.embedded_broker import url_for
from worker.launch.queues import LOOKED_IN


def test_a_queue_created_by_another_process_meanwhile_is_taken(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    with Connection(url_for(str(tmp_path / "broker.db"))) as conn:
        channel = conn.channel()
        made = channel._get_or_create("handoff")  # as the other process did
        real_first = Query.first
        misses = [None, None]  # kombu's two looks, both before the other process's insert

        def first(query: Query) -> object:
            return misses.pop() if misses else real_first(query)

        monkeypatch.setattr(Query, "first", first)
        taken = channel._get_or_create("handoff")  # its insert loses on the unique name
        assert taken.id == made.id and not misses


def test_a_message_taken_is_deleted_and_rows_kombu_left_taken_go(tmp_path: Path) -> None:
    """kombu's transport marked a taken message invisible and kept it: the table grew by
    every message ever sent and each look scanned past them all."""
    path = tmp_path / "broker.db"
    with Connection(url_for(str(path))) as conn:
        queue = conn.SimpleQueue("handoff")
        queue.put({"n": 0})
        queue.get(timeout=5).ack()
    with sqlite3.connect(path) as db:  # as a broker file of the version before left it
        db.execute("INSERT INTO kombu_message (visible, payload, version, queue_id) "
                   "SELECT 0, '{}', 1, id FROM kombu_queue")
        assert db.execute("SELECT count(*) FROM kombu_message").fetchone() == (1,)
    embedded_broker._SWEPT.clear()  # a process of the new version starting on that file
    with Connection(url_for(str(path))) as conn:
        queue = conn.SimpleQueue("handoff")
        for n in range(1, 4):
            queue.put({"n": n})
        taken = [queue.get(timeout=5) for _ in range(3)]
        assert [m.payload["n"] for m in taken] == [1, 2, 3]
        taken[2].ack()
        taken[1].ack()
    with sqlite3.connect(path) as db:  # the one never acknowledged was given back, as before
        rows = db.execute("SELECT visible, payload FROM kombu_message").fetchall()
    assert [(visible, json.loads(base64.b64decode(json.loads(p)["body"])))
            for visible, p in rows] == [(1, {"n": 1})]


PUBLISH = """
import sys, time
from kombu import Connection
from worker import embedded_broker
from worker.embedded_broker import url_for
time.sleep(0.5)  # on purpose: the publish lands while the consumer waits, past its first look
with Connection(url_for(sys.argv[1])) as conn:
    conn.SimpleQueue("handoff").put({"from": "another process"})
"""


@pytest.mark.skipif(sys.platform != "linux", reason="wake-ups are Linux's abstract sockets")
def test_a_publish_in_another_process_wakes_a_waiting_consumer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumer waits for a wake-up, not a 50 ms poll: with its own look put off past
    the test's bound, only the publisher's wake-up can bring the message in time."""
    monkeypatch.setattr(embedded_broker, "IDLE_LOOK", 120.0)
    monkeypatch.setattr(embedded_broker.Transport, "polling_interval", 120.0)  # no fallback
    path = str(tmp_path / "broker.db")
    with Connection(url_for(path)) as conn:
        queue = conn.SimpleQueue("handoff")
        assert conn.transport.wakeup.available()
        with pytest.raises(queue.Empty):  # the consumer listens (and looked once: nothing)
            queue.get(timeout=0.2)
        started = time.monotonic()
        publisher = subprocess.Popen([sys.executable, "-c", PUBLISH, path])
        message = queue.get(timeout=60)
        waited = time.monotonic() - started
        message.ack()
        assert publisher.wait(timeout=30) == 0
    assert message.payload == {"from": "another process"}
    # its own looks put off 120 s, and the get's last look at 60 s: only a wake-up brings
    # it sooner (the other process takes a second or two to start)
    assert waited < 30


@pytest.mark.skipif(sys.platform != "linux", reason="wake-ups are Linux's abstract sockets")
def test_an_acknowledgement_wakes_its_own_consumer_and_a_new_connection_still_listens(
        tmp_path: Path) -> None:
    """A worker whose slots are all taken waits with nothing to fetch: the acknowledgement
    of a task (on another thread of the worker's main process) must wake it, or the next
    task waits for the second's look. A consumer that reconnects (a broker error) takes
    over its process's listening socket instead of falling back to polling."""
    path = str(tmp_path / "broker.db")
    with Connection(url_for(path)) as conn:
        queue = conn.SimpleQueue("handoff")
        queue.put({"n": 1})
        message = queue.get(timeout=5)
        wakeup = conn.transport.wakeup
        assert wakeup.available()
        wakeup.wait(0)  # what earlier looks left is read away
        threading.Timer(0.2, message.ack).start()
        started = time.monotonic()
        wakeup.wait(60)
        assert time.monotonic() - started < 30
    with Connection(url_for(path)) as again:
        again.SimpleQueue("handoff")
        assert again.transport.wakeup.available()


def test_each_look_takes_from_the_first_queue_named_first(tmp_path: Path) -> None:
    """`handoff worker` names the periodic rings' queue first, then the carrier's rows',
    then the other rows' (worker/launch/queues.py): behind a backlog of push-backs, a free
    pool process takes a feed poll's ring, then a courier order, before the next push-back
    (taken in turn, most rings expired in a long backlog)."""
    assert LOOKED_IN == ("handoff-periodic", "handoff-carrier", "handoff")
    exchange = Exchange("handoff", type="direct")
    periodic, carrier, rows = (Queue(name, exchange, routing_key=name) for name in LOOKED_IN)
    got: list[str] = []

    def take(body: dict, message: Message) -> None:
        got.append(body["q"])
        message.ack()

    with Connection(url_for(str(tmp_path / "broker.db"))) as conn:
        producer = conn.Producer()

        def send(queue: Queue) -> None:
            producer.publish({"q": queue.name}, exchange=exchange, routing_key=queue.name,
                             declare=[queue])

        for queue in (rows, rows, carrier, periodic, carrier, periodic):
            send(queue)
        with Consumer(conn, [periodic, carrier, rows], accept=["json"], callbacks=[take]):
            for _ in range(6):
                conn.drain_events(timeout=5)
    # in turn (kombu's own order) would be periodic, carrier, rows, periodic, ...
    assert got == ["handoff-periodic"] * 2 + ["handoff-carrier"] * 2 + ["handoff"] * 2, got


def test_a_forked_child_publishes_though_a_thread_of_its_parent_held_the_engine_s_pool(
        tmp_path: Path) -> None:
    """A pool process forked while another thread of the worker's main process (its beat,
    worker/launch/beat.py) was taking a connection from the broker engine's pool: the
    child's engines have new pools (embedded_broker._forget_inherited), so its first
    publish never waits on a lock that no thread of the child will release."""
    broker = tmp_path / "broker.db"
    with Connection(url_for(str(broker))) as conn:
        conn.SimpleQueue("handoff").put({"n": 1})  # the parent's engine and pool made
    (engine, _), = [e for key, e in embedded_broker.Channel._engines.items()
                    if str(broker) in str(key)]
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # as the beat thread, mid check-out at the moment of the fork
        with engine.pool._pool.mutex:  # type: ignore[attr-defined]
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert held.wait(10)
    pid = os.fork()
    if pid == 0:  # the child: a deadlock is ended by the alarm, not by the test run
        signal.alarm(20)
        try:
            with Connection(url_for(str(broker))) as conn:
                conn.SimpleQueue("handoff").put({"n": 2})
            os._exit(0)
        except BaseException:
            os._exit(1)
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join(10)
    assert os.waitstatus_to_exitcode(status) == 0
    with Connection(url_for(str(broker))) as conn:
        queue = conn.SimpleQueue("handoff")
        assert sorted(queue.get(timeout=5).payload["n"] for _ in range(2)) == [1, 2]
