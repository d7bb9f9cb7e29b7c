"""Servers the chaos suite owns (a redis-server, a PostgreSQL cluster), so it can stop them.

Each runs on its own loopback port (reserved through worker.launch.stack.free_port, so
parallel tests and stacks keep off it) with its files under a folder the caller gives,
never touching the Redis or PostgreSQL the machine already runs.

- RedisServer: no persistence (`--save "" --appendonly no`): a restart loses everything in
  memory, queued Celery messages included. That is the point of the Redis scenarios.
- PgCluster: `initdb` on first start (trust auth, database "chaos"), `fsync=off` for speed:
  a committed transaction is in the OS's page cache, so it survives `stop -m immediate` (a
  crash of PostgreSQL, not of the machine). initdb refuses root: as root the cluster runs
  as the `postgres` user through `runuser`, its folder chowned to it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import IO

from worker.launch.stack import free_port, release_port

_USER = "postgres"  # the OS user that runs the cluster when we are root


def redis_bin() -> Path | None:
    """The redis-server program, or None (a scenario that needs it is then "not run")."""
    found = shutil.which("redis-server")
    return Path(found) if found else None


def pg_bin() -> Path | None:
    """/usr/lib/postgresql/<newest>/bin (Debian's layout), else the folder of an initdb on
    PATH, or None when PostgreSQL's server programs are not installed."""
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.glob("*/bin") if (p / "initdb").exists()),
                      key=lambda p: _version_key(p.parent.name)) if root.is_dir() else []
    if versions:
        return versions[-1]
    found = shutil.which("initdb")
    return Path(found).parent if found and (Path(found).parent / "pg_ctl").exists() else None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _wait_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


class RedisServer:
    """Its own redis-server on a free port (or `port`), files and log under `home`."""

    def __init__(self, home: Path, port: int | None = None):
        self.home = Path(home)
        self._own_port = port is None
        self.port = port if port is not None else free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        return f"RedisServer(port={self.port}, running={self.running})"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start redis-server; returns when it answers PING (at most 10 s)."""
        if self.running:
            return
        program = redis_bin()
        if program is None:
            raise RuntimeError("redis-server is not installed")
        self.home.mkdir(parents=True, exist_ok=True)
        if self._log is None:
            self._log = open(self.home / "redis.log", "ab")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [str(program), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.home),
             "--daemonize", "no", "--logfile", "", "--protected-mode", "no"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}; "
                                   f"see {self.home / 'redis.log'}")
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING in 10 s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig` (SIGTERM: a clean shutdown; SIGKILL: a crash) and wait for the exit;
        SIGKILL after 10 s if it is still there."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def restart(self, sig: int = signal.SIGTERM, down_s: float = 0.0) -> None:
        self.stop(sig)
        if down_s > 0:
            time.sleep(down_s)
        self.start()

    def flushall(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            client.flushall()
        finally:
            client.close()

    def close(self) -> None:
        """Stop (SIGKILL when SIGTERM is not enough) and give the port back."""
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._own_port:
            release_port(self.port)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PgCluster:
    """Its own PostgreSQL cluster in `home`/pg on a free port (or `port`), trust auth,
    database "chaos"; its socket in `home`/pg-run, its log in `home`/pg-log/postgres.log."""

    def __init__(self, home: Path, port: int | None = None):
        self.home = Path(home)
        self.data = self.home / "pg"
        self.run_dir = self.home / "pg-run"
        self.log = self.home / "pg-log" / "postgres.log"
        self._own_port = port is None
        self.port = port if port is not None else free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/chaos"
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.bin = pg_bin()

    def __repr__(self) -> str:
        return f"PgCluster(port={self.port}, data={self.data})"

    def _as_owner(self) -> list[str]:
        return ["runuser", "-u", _USER, "--"] if os.geteuid() == 0 else []

    def _run(self, program: str, *args: str, timeout: float = 60) -> None:
        if self.bin is None:
            raise RuntimeError("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
        cmd = [*self._as_owner(), str(self.bin / program), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")
        if result.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args[:2])} failed ({result.returncode}): "
                               f"{result.stderr[-1500:]}{result.stdout[-500:]}")

    def _prepare_folders(self) -> None:
        for folder in (self.home, self.run_dir, self.log.parent):
            folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return
        import pwd

        owner = pwd.getpwnam(_USER)
        for path in (self.run_dir, self.log.parent):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        if not self.data.exists():
            self.data.mkdir(mode=0o700)
            os.chown(self.data, owner.pw_uid, owner.pw_gid)
        # the postgres user must be able to walk down to its folders (pytest's tmp_path
        # and mkdtemp make 0700 folders): add search (x, not read) for others where missing
        for parent in [self.home, *self.home.parents]:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)

    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and _listening(self.port)

    def start(self) -> None:
        """initdb on the first start, `pg_ctl start -w`, database "chaos" created once."""
        first = not self.initialised
        self._prepare_folders()
        if first:
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--no-locale", "--no-sync", timeout=120)
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.run_dir} -c fsync=off "
                   f"-c full_page_writes=off -c max_connections=200 -c log_lock_waits=on")
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data),
                  "-l", str(self.log), "-o", options, timeout=90)
        _wait_port(self.port, 10, "PostgreSQL")
        if first:
            self._sql("CREATE DATABASE chaos")

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m fast|immediate` (immediate: no checkpoint, recovery on the next
        start, as after a crash). Nothing to do when it is not running."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"mode: {mode!r} is not smart, fast or immediate")
        if not (self.data / "postmaster.pid").exists():
            return
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-D", str(self.data), "-m", mode,
                  timeout=90)

    def restart(self, mode: str = "fast", down_s: float = 0.0) -> None:
        self.stop(mode)
        if down_s > 0:
            time.sleep(down_s)
        self.start()

    def set_read_only(self, on: bool) -> None:
        """Make every new transaction read-only (ALTER SYSTEM + reload; sessions already
        open take it at their next transaction), or writable again. Returns once a new
        session sees it: the postmaster has then signalled every session too."""
        value = "on" if on else "off"
        self._sql("SET default_transaction_read_only = off",
                  f"ALTER SYSTEM SET default_transaction_read_only = {value}",
                  "SELECT pg_reload_conf()")
        import psycopg

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
                row = conn.execute("SHOW default_transaction_read_only").fetchone()
            if row is not None and row[0] == value:
                return
            time.sleep(0.02)
        raise RuntimeError(f"default_transaction_read_only did not become {value} in 10 s")

    def _sql(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type] # our own fixed statements

    def close(self) -> None:
        """Stop at once (-m immediate) and give the port back; the files stay."""
        try:
            self.stop("immediate")
        finally:
            if self._own_port:
                release_port(self.port)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
