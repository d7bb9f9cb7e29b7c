"""Our Redis transport (worker/redis_broker.py) against a Redis killed under a consumer that
holds an unacknowledged message, cleaned up the way Celery's worker does it after a lost
connection. kombu's own transport stops there with an AttributeError (which stopped the
worker for good in chaos scenario 2); ours leaves the message in Redis and closes. Each
test of the crash starts its own redis-server (about a second)."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from ssl import CERT_NONE

import pytest
import redis
from kombu import Connection, Consumer, Exchange, Queue
from kombu.common import ignore_errors
from kombu.transport import get_transport_cls

from chaos.servers import RedisServer
from worker import redis_broker

KOMBU_TRANSPORT = "kombu.transport.redis:Transport"


def _consumer_killed_under(server: RedisServer, transport: str) -> Connection:
    """A connection as a worker holds it when Redis dies: a task message received and not
    acknowledged, a broadcast channel (remote control's) beside it, a BRPOP waiting."""
    tasks = Queue("tasks", Exchange("tasks"), "tasks")
    conn = Connection(server.url, transport=transport)
    with conn.Producer() as producer:
        producer.publish({"job": 1}, exchange=tasks.exchange, routing_key="tasks",
                         declare=[tasks])
    held = []
    Consumer(conn, [tasks], callbacks=[lambda body, message: held.append(message)],
             accept=["json"]).consume()
    conn.drain_events(timeout=5)
    broadcast = Queue("bcast", Exchange("bcast", "fanout"), auto_delete=True, exclusive=True)
    Consumer(conn.channel(), [broadcast], accept=["json"]).consume()
    with contextlib.suppress(socket.timeout):  # the broadcast channel's subscription comes
        conn.drain_events(timeout=0.2)  # back; a BRPOP stays outstanding, as under the hub
    assert conn.default_channel._in_poll  # the state kombu's first close fails in
    assert len(held) == 1
    unacked_key = conn.default_channel.unacked_key
    assert redis.Redis.from_url(server.url).hlen(unacked_key) == 1  # kept in Redis meanwhile
    server.stop(signal.SIGKILL)
    return conn


def _clean_up_as_celery_does(conn: Connection) -> None:
    """celery.worker.consumer.Consumer.on_connection_error_after_connected, in short."""
    try:
        conn.collect(socket_timeout=1)
    except Exception:  # noqa: BLE001 - Celery ignores every error here too
        pass
    ignore_errors(conn, conn.close)  # ignores connection errors only


@pytest.mark.processes
def test_kombus_transport_dies_closing_after_redis_died(redis_server: RedisServer) -> None:
    """The bug our transport exists for: when this stops failing, kombu has fixed it."""
    conn = _consumer_killed_under(redis_server, KOMBU_TRANSPORT)
    with pytest.raises(AttributeError, match="hostname"):
        _clean_up_as_celery_does(conn)


@pytest.mark.processes
def test_our_transport_closes_and_counts_what_it_leaves(
        redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    conn = _consumer_killed_under(redis_server, redis_broker.TRANSPORT)
    with caplog.at_level(logging.WARNING, logger=redis_broker.__name__):
        _clean_up_as_celery_does(conn)
    assert [r.getMessage() for r in caplog.records if r.name == redis_broker.__name__] == [
        "broker connection already closed: 1 unacknowledged message(s) left in Redis, "
        "redelivered after the visibility timeout"]
    redis_server.start()  # the next connection works as before
    again = Connection(redis_server.url, transport=redis_broker.TRANSPORT)
    try:
        again.ensure_connection(max_retries=1)
    finally:
        again.release()


def test_register_makes_redis_urls_load_ours_and_keeps_tls_for_rediss() -> None:
    redis_broker.register()
    for scheme in redis_broker.SCHEMES:
        assert get_transport_cls(scheme) is redis_broker.Transport
    assert Connection("rediss://127.0.0.1:6380/0").ssl == {"ssl_cert_reqs": CERT_NONE}
    assert Connection("redis://127.0.0.1:6379/0").ssl is False
