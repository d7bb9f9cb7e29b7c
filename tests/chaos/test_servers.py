"""The chaos suite's own servers and proxy: Redis and PostgreSQL started, killed and
started again with clients coming back; the proxy's forward, blackhole and cut as a client
sees them. Each test starts its own servers (a second or two each)."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
import sqlalchemy as sa

from chaos.proxy import TcpProxy
from chaos.servers import PgCluster, RedisServer, pg_bin
from tests.conftest import require_program
from tests.support.waits import wait_for

pytestmark = pytest.mark.processes  # they start redis-server and postgres processes


@pytest.fixture
def pg_cluster(tmp_path: Path) -> Iterator[PgCluster]:
    require_program(pg_bin(), "PostgreSQL's server programs (initdb, pg_ctl)")
    with PgCluster(tmp_path / "pg") as cluster:
        cluster.start()
        yield cluster


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_redis_stopped_by_a_signal_comes_back_empty_and_a_client_reconnects(
        redis_server: RedisServer, sig: int) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    client.set("queued", "message")
    redis_server.stop(sig)
    assert not redis_server.running
    with pytest.raises(redis.ConnectionError):
        client.ping()
    redis_server.start()
    assert client.ping()  # the same client, a new connection
    assert client.get("queued") is None  # no persistence: a restart loses what was queued
    client.set("queued", "again")
    redis_server.restart(sig, down_s=0.2)
    assert client.get("queued") is None
    client.close()


def test_redis_flushall_empties_every_database(redis_server: RedisServer) -> None:
    other = redis.Redis(port=redis_server.port, db=3)
    other.set("quota", "1")
    redis_server.flushall()
    assert other.dbsize() == 0
    other.close()


def test_pg_cluster_keeps_committed_rows_across_an_immediate_stop(
        pg_cluster: PgCluster) -> None:
    engine = sa.create_engine(pg_cluster.url)  # the project's URL form works as it is
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE ledger (id int PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO ledger VALUES (1), (2)"))
    engine.dispose()
    pg_cluster.stop("immediate")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(_plain(pg_cluster.url), connect_timeout=2)
    pg_cluster.restart("fast", down_s=0.1)  # not running: only the start does anything
    with psycopg.connect(_plain(pg_cluster.url)) as conn:
        assert conn.execute("SELECT id FROM ledger ORDER BY id").fetchall() == [(1,), (2,)]
        assert conn.execute("SELECT current_database()").fetchone() == ("chaos",)


def test_pg_read_only_reaches_a_session_already_open_and_is_undone(
        pg_cluster: PgCluster) -> None:
    with psycopg.connect(_plain(pg_cluster.url), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
        pg_cluster.set_read_only(True)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO t VALUES (1)")
        pg_cluster.set_read_only(False)
        conn.execute("INSERT INTO t VALUES (2)")
        assert conn.execute("SELECT x FROM t").fetchall() == [(2,)]


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=1)


def _ping(sock: socket.socket) -> bytes:
    sock.sendall(b"PING\r\n")
    return sock.recv(64)


def _redis_clients(server: RedisServer) -> int:
    admin = redis.Redis(port=server.port)
    try:
        return len(admin.client_list()) - 1  # not counting this one
    finally:
        admin.close()


def test_proxy_blackhole_holds_the_link_open_and_silent(redis_server: RedisServer) -> None:
    with TcpProxy(redis_server.port) as proxy:
        proxy.start()
        held = _connect(proxy.port)
        assert _ping(held) == b"+PONG\r\n"
        proxy.blackhole()
        held.sendall(b"PING\r\n")
        with pytest.raises(TimeoutError):  # no answer, and no EOF or reset either
            held.recv(64)
        late = _connect(proxy.port)  # accepted, but nothing goes through
        wait_for(lambda: proxy.connections == 2, "the proxy to accept the new connection",
                 timeout=5, every=0.05)
        with pytest.raises(TimeoutError):
            _ping(late)
        assert _redis_clients(redis_server) == 1  # the held link is still open at Redis
        proxy.forward()
        fresh = _connect(proxy.port)
        assert _ping(fresh) == b"+PONG\r\n"
        # the held links were forgotten by the far side: the one that had sent something
        # meets a reset, the one that waits only hears nothing
        with pytest.raises(ConnectionResetError):
            held.recv(64)
        wait_for(lambda: _redis_clients(redis_server) == 1, "the forgotten links to close at "
                 "Redis", timeout=5, every=0.05)
        for sock in (held, late, fresh):
            sock.close()


def test_proxy_forward_after_a_blackhole_can_resume_the_held_links(
        redis_server: RedisServer) -> None:
    with TcpProxy(redis_server.port) as proxy:
        proxy.start()
        held = _connect(proxy.port)
        proxy.blackhole()
        held.sendall(b"PING\r\n")
        with pytest.raises(TimeoutError):
            held.recv(64)
        proxy.forward(held="resume")
        assert held.recv(64) == b"+PONG\r\n"
        held.close()


def test_proxy_cut_resets_open_links_and_refuses_new_ones(redis_server: RedisServer) -> None:
    with TcpProxy(redis_server.port) as proxy:
        proxy.start()
        raw = _connect(proxy.port)
        assert _ping(raw) == b"+PONG\r\n"
        client = redis.Redis(port=proxy.port, socket_timeout=2)
        assert client.ping()
        proxy.cut()
        with pytest.raises(ConnectionResetError):
            raw.recv(64)
        with pytest.raises(ConnectionRefusedError):
            _connect(proxy.port)
        with pytest.raises(redis.ConnectionError):
            client.ping()
        proxy.forward()
        assert client.ping()  # reconnects through the proxy again
        raw.close()
        client.close()


def test_proxy_cut_between_a_client_and_postgresql(pg_cluster: PgCluster) -> None:
    assert pg_cluster.port
    with TcpProxy(pg_cluster.port) as proxy:
        proxy.start()
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/chaos"
        # closed, not left by `with` (whose exit commits: on a connection the cut broke
        # half-way, that raises again, depending on when the reset arrived)
        conn = psycopg.connect(url, autocommit=True)
        try:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            proxy.cut()
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")
        finally:
            conn.close()
        proxy.forward()
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
