"""Starts and stops the whole system as real processes: simulators, worker, beat, web.

Used by `handoff demo` and by the integration tests, so both exercise the same thing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, ClassVar, Protocol

import httpx

# The example agencies (three, on both routes): what `handoff demo` and the tests import
# into their fresh database, and whose accounts the carrier simulator is told to accept.
EXAMPLE_AGENCIES = Path(__file__).resolve().parents[1] / "examples" / "agencies.json"

# Fast schedules so a demo or a test finishes in seconds; production keeps the defaults.
FAST = {
    "HANDOFF_POLL_ONESTOP_EVERY": "1",
    "HANDOFF_POLL_CARRIER_EVERY": "1",
    "HANDOFF_SWEEP_EVERY": "1",
    "HANDOFF_REDISPATCH_AFTER": "8",
    "HANDOFF_BACKOFF_BASE_SECONDS": "0.5",
    "HANDOFF_BACKOFF_MAX_SECONDS": "5",
    "HANDOFF_LEASE_SECONDS": "15",
    "HANDOFF_CARRIER_TIMEOUT_SECONDS": "3",
    "HANDOFF_ONESTOP_TIMEOUT_SECONDS": "3",
}


class OneShot(Protocol):
    def __call__(self, args: list[str], env: dict[str, str], *, stdin: str, timeout: float
                 ) -> subprocess.CompletedProcess[str]: ...


def run_command(args: Sequence[str | bytes], env: dict[str, str], *, stdin: str, timeout: float,
                errors: str = "strict", cwd: str | None = None
                ) -> subprocess.CompletedProcess[str]:
    """`handoff *args` in a new interpreter, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "worker.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, errors=errors, timeout=timeout,
                          cwd=cwd)


# Ports for the processes a Stack starts: below Linux's ephemeral range (32768 up), so no
# outgoing connection or bind to port 0 takes one between our pick and the child's bind; a
# lock on a file named after the port keeps every other process that uses this module (the
# parallel test workers, a second test run, a demo) off it until the Stack stops.
PORTS = range(20000, 32768)
_PORT_LOCKS = Path(tempfile.gettempdir()) / f"handoff-stack-ports-{os.getuid()}"
_held: dict[int, int] = {}  # port -> the open file whose lock reserves it


def free_port() -> int:
    """A loopback port nobody listens on, reserved for this process until `release_port`."""
    rng = random.Random()
    for _ in range(200):
        port = rng.choice(PORTS)
        if port in _held or not _reserve(port):
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))
        except OSError:  # someone listens there (or it lingers in TIME_WAIT)
            release_port(port)
            continue
        return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def release_port(port: int) -> None:
    fd = _held.pop(port, None)
    if fd is not None:
        os.close(fd)  # closing drops the lock


def _reserve(port: int) -> bool:
    """False when another process holds the port's lock; True (unlocked) when the lock
    folder cannot be used: the bind check alone then decides, as before."""
    try:
        _PORT_LOCKS.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(_PORT_LOCKS / str(port), os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _held[port] = fd
    return True


@dataclass
class Stack:
    home: Path
    database_url: str = ""
    broker_url: str = ""
    speed: float = 14400.0  # 4 simulated hours a second: a return (3 days) takes ~20 s
    extra_env: dict[str, str] = field(default_factory=dict)
    agencies_file: Path | None = EXAMPLE_AGENCIES
    carrier_port: int = field(default_factory=free_port)
    onestop_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: dict[str, IO[bytes]] = field(default_factory=dict)
    _celery: set[str] = field(default_factory=set)  # names of the workers and beats
    # How long stop() lets each wave shut down before SIGKILL. The tests, whose checks are
    # done when they stop a stack, set it short (tests/conftest.py): a Celery worker's warm
    # shutdown takes 2-6 s, paid by every test that starts a stack.
    stop_grace: ClassVar[float] = 6.0
    # Where migrated embedded databases are kept for the next Stack with the same agencies
    # and settings (None: every Stack migrates). The tests set it (tests/conftest.py): a
    # stack's `migrate` and `agency import` cost a second of CPU each, dozens of times a run.
    template_dir: ClassVar[Path | None] = None
    # The schedules every Stack starts with (a Stack's extra_env still wins). The tests slow
    # two of them down (tests/conftest.py): each periodic ring costs an idle stack about 3 %
    # of a core, and a test run keeps several stacks up at once.
    schedules: ClassVar[dict[str, str]] = FAST
    # How a one-shot command (`run`, `run_input`) is run: (argv after `handoff`, the whole
    # environment, stdin, timeout) -> its result, as subprocess.run gives it. By default a new
    # interpreter; the tests fork it from a process with the CLI loaded
    # (tests/support/forked_cli.py): a new interpreter's imports cost 0.8 s of CPU.
    one_shot: ClassVar[OneShot] = staticmethod(run_command)

    @property
    def carrier_url(self) -> str:
        return f"http://127.0.0.1:{self.carrier_port}/"

    @property
    def onestop_url(self) -> str:
        return f"http://127.0.0.1:{self.onestop_port}/"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
        env.update(self.schedules)
        env.update({
            "HANDOFF_HOME": str(self.home),
            "HANDOFF_CARRIER_BASE_URL": self.carrier_url,
            "HANDOFF_ONESTOP_BASE_URL": self.onestop_url,
            "HANDOFF_LGSP_TOKEN_URL": self.carrier_url + "lgsp/token",
            "HANDOFF_LGSP_BASE_URL": self.carrier_url + "lgsp",
            "HANDOFF_SIM_CARRIER_ACCOUNTS": " ".join(self.sim_accounts()),
            "HANDOFF_WEB_PORT": str(self.web_port),
            "PYTHONUNBUFFERED": "1",
            # The simulators accept only the demo credentials, also when a test runs the
            # stack on PostgreSQL and Redis (where production would refuse them).
            "HANDOFF_ALLOW_DEMO_SECRETS": "true",
        })
        if self.database_url:
            env["HANDOFF_DATABASE_URL"] = self.database_url
        if self.broker_url:
            env["HANDOFF_BROKER_URL"] = self.broker_url
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, *args: str, celery: bool = False) -> subprocess.Popen[bytes]:
        self.home.mkdir(parents=True, exist_ok=True)
        out = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs[name] = out
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", *args], env=self.env(), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.procs[name] = proc
        if celery:
            self._celery.add(name)
        return proc

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a one-shot `handoff` command with this stack's environment."""
        return type(self).one_shot(list(args), self.env(), stdin="", timeout=timeout)

    def run_input(self, stdin: str, *args: str, timeout: float = 120
                  ) -> subprocess.CompletedProcess[str]:
        """`run` with `stdin` piped in (a password or credentials, never in argv)."""
        return type(self).one_shot(list(args), self.env(), stdin=stdin, timeout=timeout)

    def start_simulators(self, *, together: bool = False) -> None:
        """Each simulator in a process of its own (a test may stop one); `together`, both
        in one (`handoff demo`: about 28 MB less, bench/demo_memory.py)."""
        carrier = ("simulate", "carrier", "--port", str(self.carrier_port),
                   "--speed", str(self.speed))
        if together:
            self._spawn("simulators", *carrier, "--onestop-port", str(self.onestop_port))
        else:
            self._spawn("carrier-sim", *carrier)
            self._spawn("onestop-sim", "simulate", "onestop", "--port", str(self.onestop_port))
        wait_http(self.carrier_url + "healthz")
        wait_http(self.onestop_url + "healthz")

    def sim_accounts(self) -> list[str]:
        """KEY:SECRET:CUSTOMER_CODE of each own account in the agencies file (simulator
        values only: the example file's credentials are public)."""
        if self.agencies_file is None:
            return []
        data = json.loads(self.agencies_file.read_text(encoding="utf-8"))
        return [f"{a['customer_key']}:{a['secret_key']}:{a['customer_code']}"
                for a in data.values() if a.get("customer_code")]

    def migrate(self) -> None:
        """Schema, then the agencies: the file's, then HANDOFF_AGENCIES of `extra_env`
        again (a test's own entries win over the example's). On the embedded default with a
        `template_dir` and no database yet, a copy of the database these steps made before
        for the same agencies and settings, when there is one."""
        # (a home with a database already: migrated in place, its rows kept)
        template = None if (self.home / "handoff.db").exists() else self._template()
        if template is not None and template.exists():
            self._copy_database(template, self.home)
            return
        self._migrate()
        if template is not None and (self.home / "handoff.db").exists():
            scratch = template.with_name(template.name + f".{os.getpid()}.tmp")
            shutil.rmtree(scratch, ignore_errors=True)  # (a copy that failed half way)
            scratch.mkdir(parents=True)
            self._copy_database(self.home, scratch)
            try:
                scratch.rename(template)  # whole or not at all
            except OSError:  # another process sharing template_dir kept its copy first
                shutil.rmtree(scratch, ignore_errors=True)

    def _migrate(self) -> None:
        steps: list[tuple[str, ...]] = [("migrate",)]
        if self.agencies_file is not None:
            steps.append(("agency", "import", str(self.agencies_file)))
        if "HANDOFF_AGENCIES" in self.extra_env:
            own = self.home / "agencies-from-env.json"
            self.home.mkdir(parents=True, exist_ok=True)
            own.write_text(self.extra_env["HANDOFF_AGENCIES"], encoding="utf-8")
            steps.append(("agency", "import", str(own)))
        for step in steps:
            result = self.run(*step)
            if result.returncode != 0:
                raise RuntimeError(f"{' '.join(step)} failed: {result.stderr[-2000:]}"
                                   f"{result.stdout[-1000:]}")

    def _template(self) -> Path | None:
        """Where the database of `migrate` for this stack's agencies and settings is kept;
        None off the embedded default or without a `template_dir`."""
        if (self.template_dir is None or self.database_url
                or {"HANDOFF_DATABASE_URL", "HANDOFF_HOME"} & set(self.extra_env)):
            return None
        what = hashlib.sha256()
        if self.agencies_file is not None:
            what.update(self.agencies_file.read_bytes())
        what.update(json.dumps(sorted(self.extra_env.items())).encode())
        return self.template_dir / what.hexdigest()[:24]

    @staticmethod
    def _copy_database(source: Path, target: Path) -> None:
        """The SQLite database's files (with any write-ahead log) from one home to another."""
        target.mkdir(mode=0o700, parents=True, exist_ok=True)  # as `handoff migrate` makes it
        for old in target.glob("handoff.db*"):  # a log of an earlier database: not replayed
            old.unlink()
        for path in source.glob("handoff.db*"):
            shutil.copy2(path, target / path.name)

    def start_worker(self, name: str = "worker", *, beat: bool = False) -> None:
        """A worker; with `beat`, one that rings the periodic work too (no `beat` process)."""
        ring = ("--beat", str(self.home / f"{name}-beat-schedule")) if beat else ()
        self._spawn(name, "worker", "-l", "INFO", *ring, celery=True)

    def start_beat(self, name: str = "beat") -> None:
        self._spawn(name, "beat", "-l", "INFO", "-s", str(self.home / f"{name}-schedule"),
                    celery=True)

    def start_web(self) -> None:
        self._spawn("web", "web", "--port", str(self.web_port))
        wait_http(self.web_url + "healthz")

    def start_all(self, *, beat_in_worker: bool = False, simulators_together: bool = False
                  ) -> None:
        """Every process; with `beat_in_worker`, the worker rings the periodic work itself
        (one process fewer: `handoff demo`, one machine); with `simulators_together`, both
        simulators run in one process (`start_simulators`)."""
        self.start_simulators(together=simulators_together)
        self.migrate()
        self.start_web()
        self.start_worker(beat=beat_in_worker)
        if not beat_in_worker:
            self.start_beat()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """SIGKILL: the process and its children (a prefork worker's pool), as a crash
        would. Another signal (SIGTERM): the main process only, as `docker stop` does (a
        worker whose pool got it too would never finish its warm shutdown), then SIGKILL to
        the group if it has not left within 30 s."""
        proc = self.procs.pop(name)
        self._celery.discard(name)
        self._end([proc], sig, 0.0 if sig == signal.SIGKILL else 30.0)

    def stop(self) -> None:
        """Workers and beats first (their tasks in flight still reach the web, simulators
        and stores), then the rest; each wave gets SIGTERM at once and shuts down side by
        side, and whatever has not left within `stop_grace` gets SIGKILL with its process
        group."""
        names = list(self.procs)[::-1]
        celery = [n for n in names if n in self._celery]
        for wave in (celery, [n for n in names if n not in celery]):
            self._end([self.procs.pop(name) for name in wave], signal.SIGTERM, self.stop_grace)
        self._celery.clear()
        for f in self._logs.values():
            f.close()
        self._logs.clear()
        for port in (self.carrier_port, self.onestop_port, self.web_port):
            release_port(port)

    @staticmethod
    def _end(procs: list[subprocess.Popen[bytes]], sig: int, grace: float) -> None:
        """`sig` to each main process (SIGKILL: to its whole group), a shared `grace` to
        leave, then SIGKILL to each group: to what has not left, and to any child a main
        process that did leave left behind."""
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                if sig == signal.SIGKILL:
                    os.killpg(proc.pid, sig)
                else:
                    os.kill(proc.pid, sig)
        deadline = time.monotonic() + grace
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    # Simulator admin calls
    def carrier_admin(self, path: str, payload: dict | None = None) -> dict:
        return _admin(self.carrier_url, path, payload)

    def onestop_admin(self, path: str, payload: dict | None = None) -> dict:
        return _admin(self.onestop_url, path, payload)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_ADMIN_CLIENTS: dict[int, httpx.Client] = {}


def _admin_client() -> httpx.Client:
    """One client a process for the simulators' admin calls. `httpx.post` makes a client for
    each call, and with it a TLS context (the CA bundle loaded and parsed: about 40 ms of
    CPU): the latency benchmark's load generator, ten calls a second, spent 0.4 of a core
    on them, beside the deployment it measured. No connection is kept (a simulator that a
    scenario restarts leaves none stale); a process forked after one was made makes its own."""
    client = _ADMIN_CLIENTS.get(os.getpid())
    if client is None:
        client = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))
        _ADMIN_CLIENTS[os.getpid()] = client
    return client


def _admin(base: str, path: str, payload: dict | None) -> dict:
    url = base + "_admin/" + path
    # json.dumps escapes non-ASCII, so tests can hand the simulators hostile text (a lone
    # surrogate) that httpx's own UTF-8 encoding of json= would refuse
    client = _admin_client()
    r = client.post(url, content=json.dumps(payload),
                    headers={"content-type": "application/json"}) if payload is not None else (
        client.get(url))
    r.raise_for_status()
    return r.json()  # type: ignore[no-any-return]


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")
