"""One-shot `handoff …` commands in processes of their own, forked from a process that has
the CLI's modules loaded already.

A command in a new interpreter spends about 0.8 s of CPU importing click, SQLAlchemy, the
models and pydantic before it does anything; the suite ran about 170 of them in its
parallel pass, a sixth of that pass's CPU on a 2-core machine. A child forked from this
module's server costs about 0.05 s. It is still a process of its own, as an operator's
command is: its own environment (set whole before the command starts; the server checks
that nothing it preloaded read the settings), working folder, stdin, stdout, stderr and
exit code; `python -m worker.cli` run as `-m` runs it (`runpy`, so `sys.argv[0]` and
`__main__` are as in a new interpreter); its non-daemon threads are waited for and its
exit functions run, as at an interpreter's end.

What the child takes from the server rather than from its request: the modules the server
preloaded (a command that forgot an import of its own would find it loaded:
tests/unit/test_cli_commands.py imports every command's late imports in a new interpreter),
the hash seed, `sys.path` and what Python reads as it starts. A request whose PYTHON*,
LANG, LANGUAGE or LC_* variables differ from the server's runs in a new interpreter, as
does one made while another call of the same test process is in flight (two threads), and
every command where fork or pidfd_open are missing (not Linux). What a new interpreter
adds, the imports themselves, is exercised by every process a Stack starts (worker, beat,
web, simulators) and by the tests that run `-c` probes.

`run` is subprocess.run's shape. HANDOFF_TEST_NEW_INTERPRETER=1 runs each command in a new
interpreter instead (to compare, or to rule the server out).

The server (`python -m tests.support.forked_cli`, one per test process, started on first
use) reads pickled requests on its stdin and answers on its stdout; it forks one child per
request and waits for it. A call interrupted between its request and the answer (a test's
timeout, Ctrl-C) ends the server, so no later call can read that answer as its own.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import io
import locale
import os
import pickle
import runpy
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from worker.launch.stack import run_command

# Loaded by the server before it forks: the command modules, and what their commands load
# when they run. None of them may read the settings or start a thread on import (checked).
PRELOAD = (
    "worker.cli.main", "worker.cli.common", "worker.db.models", "worker.db.engine",
    "worker.db.migrate", "worker.db.schema_state", "worker.bootstrap", "worker.settings",
    "sqlalchemy.dialects.sqlite", "sqlalchemy.dialects.postgresql", "psycopg",
    "alembic.command", "alembic.config", "alembic.runtime.migration",
)
ROOT = Path(__file__).resolve().parents[2]


def run(args: Sequence[str | bytes], env: dict[str, str], *, stdin: str = "",
        timeout: float = 120, errors: str = "strict",
        cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m worker.cli *args` with `env` as its whole environment, output as text.

    bytes arguments reach the command undecoded, as a terminal passes them."""
    argv = [sys.executable, "-m", "worker.cli", *args]
    client = None if os.environ.get("HANDOFF_TEST_NEW_INTERPRETER") == "1" else _client(env)
    if client is None or not client.lock.acquire(blocking=False):
        return run_command(list(args), env, stdin=stdin, timeout=timeout, errors=errors,
                           cwd=cwd)
    try:
        answer = client.ask({"args": [os.fsencode(a) for a in args], "env": env,
                             "stdin": stdin.encode(), "timeout": timeout,
                             "cwd": cwd or os.getcwd()})
    finally:
        client.lock.release()
    if answer.get("timeout"):
        raise subprocess.TimeoutExpired(argv, timeout)
    return subprocess.CompletedProcess(argv, answer["returncode"],
                                       _text(answer["stdout"], errors),
                                       _text(answer["stderr"], errors))


def _text(data: bytes, errors: str) -> str:
    """As subprocess.run's text mode reads a pipe: the locale's encoding, newlines
    translated."""
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=locale.getpreferredencoding(False),
                              errors=errors)
    return stream.read()


def _read_at_start(env: dict[str, str]) -> dict[str, str]:
    """The variables Python reads as it starts (the server's are fixed once)."""
    return {k: v for k, v in env.items()
            if k.startswith(("PYTHON", "LC_")) or k in ("LANG", "LANGUAGE")}


class _Client:
    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
        self.start_env = _read_at_start(env)  # (the requests' own, before ROOT is added)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.forked = 0  # commands this server ran
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.forked_cli"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                     cwd=ROOT)
        self.lock = threading.Lock()
        ready = _read(self.proc.stdout)  # type: ignore[arg-type]
        if ready != "ready":
            raise RuntimeError(f"the command server did not start: {ready!r}")

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request and its answer (the caller holds `lock`)."""
        try:
            _write(self.proc.stdin, request)  # type: ignore[arg-type]
            answer = _read(self.proc.stdout)  # type: ignore[arg-type]
        except BaseException:  # interrupted: the answer must not reach the next call
            self.proc.kill()
            raise
        if answer is None:
            raise RuntimeError("the command server ended")
        self.forked += 1
        return answer  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_the_client: _Client | None = None
_client_lock = threading.Lock()


def _client(env: dict[str, str]) -> _Client | None:
    """The server of this test process, started on first use; None where a new interpreter
    must run the command (see the module's doc)."""
    global _the_client
    if not (hasattr(os, "fork") and hasattr(os, "pidfd_open")):
        return None
    with _client_lock:
        if _the_client is None or _the_client.proc.poll() is not None:
            _the_client = _Client()
            atexit.register(_the_client.close)
        client = _the_client
    return client if _read_at_start(env) == client.start_env else None


def _write(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj)
    stream.write(struct.pack("!I", len(data)) + data)
    stream.flush()


def _read(stream: IO[bytes]) -> object:
    head = stream.read(4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack("!I", head)
    return pickle.loads(stream.read(size))


# --- the server -------------------------------------------------------------------------

def serve() -> None:
    # the requests come on fds 0 and 1; a command's own streams are put there in its child
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    for name in PRELOAD:
        importlib.import_module(name)
    from worker.settings import get_settings
    if get_settings.cache_info().currsize or threading.active_count() != 1:
        _write(answers, "the preloaded modules read the settings or started a thread")
        return
    _write(answers, "ready")
    keep = {requests.fileno(), answers.fileno()}
    while (request := _read(requests)) is not None:
        _write(answers, _fork(request, keep))  # type: ignore[arg-type]


def _fork(request: dict[str, Any], keep: set[int]) -> dict[str, Any]:
    with contextlib.ExitStack() as files:
        streams = [files.enter_context(tempfile.TemporaryFile()) for _ in range(3)]
        streams[0].write(request["stdin"])
        streams[0].seek(0)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the command's process
            code = 1
            try:
                for fd, stream in enumerate(streams):
                    os.dup2(stream.fileno(), fd)
                for fd in keep:
                    os.close(fd)
                code = _command(request)
            finally:
                os._exit(code)
        answer: dict[str, Any] = {"timeout": not _ended(pid, request["timeout"])}
        _, status = os.waitpid(pid, 0)
        answer["returncode"] = os.waitstatus_to_exitcode(status)
        for key, stream in zip(("stdout", "stderr"), streams[1:], strict=True):
            stream.seek(0)
            answer[key] = stream.read()
        return answer


def _ended(pid: int, timeout: float) -> bool:
    """Whether the child ended within `timeout` seconds; killed if not."""
    watch = os.pidfd_open(pid)
    try:
        if select.select([watch], [], [], timeout)[0]:
            return True
        os.kill(pid, signal.SIGKILL)
        return False
    finally:
        os.close(watch)


def _command(request: dict[str, Any]) -> int:
    """In the child: the environment, folder and argv of the request, then `-m worker.cli`."""
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        sys.argv = ["-m", *(os.fsdecode(a) for a in request["args"])]
        runpy.run_module("worker.cli", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as stop:  # as the interpreter turns SystemExit into an exit code
        if stop.code is None or isinstance(stop.code, int):
            code = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    threading._shutdown()  # type: ignore[attr-defined]  # as at an interpreter's end
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: S110 - a closed stream: nothing more to write
            pass
    return code


if __name__ == "__main__":
    serve()
