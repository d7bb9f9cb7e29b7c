"""Shared fixtures: the real services (PostgreSQL, Redis) and a running stack of processes."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from tests.support import forked_cli
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.launch.stack import FAST, Stack

# Property tests: thorough under CI, quick in the edit-test loop (`make test-fast`).
hypothesis_settings.register_profile("ci", max_examples=300)
hypothesis_settings.register_profile("dev", max_examples=60)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

# A test's checks are done when it stops its stack of processes: a second, then SIGKILL,
# instead of waiting out each Celery worker's warm shutdown (2-6 s a stack).
Stack.stop_grace = 1.0
# The carrier poll and the ledger sweep every 2 s instead of every second: what a test waits
# for comes a second later at most (pushes, the one-stop's feed and the web's rings are as
# fast as before), and each stack burns 3 % of a core less while it waits (an idle stack took
# 10 % of a core, about 3 % for each periodic ring), with several stacks up at once.
Stack.schedules = {**FAST, "HANDOFF_POLL_CARRIER_EVERY": "2", "HANDOFF_SWEEP_EVERY": "2"}
# A stack's one-shot commands (migrate, agency import, user add ...) forked from a process
# with the CLI loaded: about 0.05 s of CPU each instead of a new interpreter's 0.8 s.
Stack.one_shot = staticmethod(forked_cli.run)


@pytest.fixture(scope="session", autouse=True)
def _migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test process migrates an embedded stack's database once per set of agencies
    and settings, then copies it (Stack.template_dir): `migrate` and `agency import` are
    tested on their own (tests/unit/test_sqlite_file_mode.py, test_agency_cli.py); a
    stack's copy is the same file, without their second of CPU each, dozens of times a run.
    The parallel workers of one run share them (the folder above each worker's own)."""
    base = tmp_path_factory.getbasetemp()
    Stack.template_dir = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
                          ) / "migrated-databases"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `services` on every test that needs PostgreSQL or Redis, so `make test-fast` can leave
    # them out by marker: a fixture that takes them, or a postgresql/redis parameter (a
    # fixture that calls getfixturevalue("pg_url") for it is not visible before it runs).
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = {str(v) for v in callspec.params.values()} if callspec else set()
        if ({"pg_url", "redis_url"} & set(getattr(item, "fixturenames", ()))
                or {"postgresql", "redis"} & params):
            item.add_marker(pytest.mark.services)
    _schedule(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that ran processes shows their logs' ends in its report: a flake in CI
    says what the worker and beat were doing (the homes of the Stacks among its fixtures,
    and the process logs under its tmp_path)."""
    report = yield
    if report.failed:
        for name, text in _process_logs(item).items():
            report.sections.append((f"process log {name}", text))
    return report


def _process_logs(item: pytest.Item, chars: int = 4000) -> dict[str, str]:
    args = getattr(item, "funcargs", {})
    roots = [v.home for v in args.values() if isinstance(v, Stack)]
    if isinstance(args.get("tmp_path"), Path):
        roots.append(args["tmp_path"])
    found: dict[str, str] = {}
    for root in roots:
        for log in sorted(Path(root).rglob("*.log"))[:12]:
            if log.stem in ("worker", "beat", "web") or log.stem.startswith("worker"):
                found[str(log)] = log.read_text(errors="replace")[-chars:]
    return found


def _schedule(items: list[pytest.Item]) -> None:
    """How `make test` (xdist, `--dist loadscope --no-loadscope-reorder`) hands out tests: a
    module's test functions stay on one worker, in order (an e2e module starts its stack of
    processes once; a class is a scope of its own). Modules marked `spread` go first: their
    tests each start their own processes and are the longest, so they start first instead
    of ending last. Then the rest in collection order (e2e and integration before unit).
    (`--dist loadgroup` with xdist_group marks would hand them out test by test, but it does
    not group at all under pytest 9.2: pytest-xdist issue 1386.)"""
    items.sort(key=lambda item: item.get_closest_marker("spread") is None)  # stable


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip with a clear message on a developer machine; fail under CI=true."""
    if _reachable(host, port):
        return
    msg = (f"{name} is not reachable at {host}:{port}; start it to run this test "
           f"(see README, 'Tests')")
    if os.environ.get("CI"):
        pytest.fail(f"CI: {msg}")
    pytest.skip(msg)


@contextmanager
def _pg_database(template: str | None = None) -> Iterator[str]:
    """A PostgreSQL database of its own (a copy of `template` when given), dropped after."""
    import psycopg

    name = f"handoff_{uuid.uuid4().hex[:10]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_url_of(name: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    with _pg_database() as name:
        yield _pg_url_of(name)


@pytest.fixture(scope="session")
def _migrated_pg() -> Iterator[str]:
    """A PostgreSQL database migrated and seeded like `_migrated_sqlite`, once per test
    process: `database`'s PostgreSQL runs get a copy (CREATE DATABASE … TEMPLATE) instead of
    Alembic and the seed in every test (about 1.2 s of CPU each, some 60 tests)."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    from tests.agencies import seed  # loads the service layer: only for tests that ask

    with _pg_database() as name:
        url = _pg_url_of(name)
        upgrade(url)
        db = Database(url)
        seed(db)
        db.dispose()  # a template has no one connected while it is copied
        yield name


def redis_db_index() -> int:
    """TEST_REDIS_DB: a different index for each test run that shares one Redis server
    (default 7). Under pytest-xdist worker gwN takes the N-th of a comma-separated list, or
    the one index + N: `make test`'s six workers use 7-12."""
    given = [int(i) for i in os.environ.get("TEST_REDIS_DB", "7").split(",")]
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
    if 1 < len(given) <= worker:
        pytest.fail(f"TEST_REDIS_DB lists {len(given)} indexes: xdist worker {worker} has "
                    f"none (one per worker, or one index for N workers to count up from)")
    index = given[worker] if len(given) > 1 else given[0] + worker
    if not 0 <= index < 16:  # Redis keeps 16 databases unless told otherwise
        pytest.fail(f"Redis database {index} for xdist worker {worker}: set TEST_REDIS_DB "
                    f"lower or to one index per worker")
    return index


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database index of its own, flushed before and after."""
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    url = f"{REDIS_URL}/{redis_db_index()}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to the latest schema and seeded with the simulator's
    agencies, made once per session; each test gets a copy (migrating took ~0.3 s a test)."""
    path = tmp_path_factory.mktemp("template") / "handoff.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    from tests.agencies import seed  # loads the service layer: only for tests that ask

    seed(db)  # the simulator's agencies: a hand-off of an unknown agency only waits
    db.dispose()  # checkpoints the WAL into the file: the copy is whole
    return path


@pytest.fixture
def sqlite_db(tmp_path: Path, _migrated_sqlite: Path) -> Iterator[Database]:
    """A migrated SQLite database of its own (the simulator's agencies in it), for tests of
    one service without processes."""
    target = tmp_path / "handoff.db"
    shutil.copyfile(_migrated_sqlite, target)
    db = Database(f"sqlite:///{target}")
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """The test once on `sqlite_db`, once on a fresh PostgreSQL database (`pg_url`) migrated
    and seeded alike."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_db")
        return
    with _pg_database(template=request.getfixturevalue("_migrated_pg")) as name:
        db = Database(_pg_url_of(name))
        yield db
        db.dispose()


@pytest.fixture
def web_app(sqlite_db: Database, tmp_path: Path) -> Iterator[Any]:
    """The real app (TestClient) on `sqlite_db` with `ops` and `desk` users: tests/web_app.py."""
    from tests.web_app import open_web  # imports the whole web app: only for tests that ask

    with open_web(sqlite_db, tmp_path) as found:
        yield found


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def require_program(found: object, what: str) -> None:
    """A program a test needs (redis-server, PostgreSQL's initdb): skip with a clear message
    on a developer machine when it is missing; fail under CI=true."""
    if found:
        return
    msg = f"{what} is not installed; install it to run this test"
    if os.environ.get("CI"):
        pytest.fail(f"CI: {msg}")
    pytest.skip(msg)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Any]:
    """A redis-server of the test's own (chaos/servers.py), which the test may kill."""
    from chaos.servers import RedisServer, redis_bin  # only the tests that stop a server

    require_program(redis_bin(), "redis-server")
    with RedisServer(tmp_path / "redis") as server:
        server.start()
        yield server
