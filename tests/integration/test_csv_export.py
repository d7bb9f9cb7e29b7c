"""The CSV export on PostgreSQL through a real web process: 30,000 hand-offs stream out
while the process's memory stays flat (it grew ~5 MB per 1,000 rows when the file was
built in memory: ~150 MB here)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from bench.pg_seed import seed_handoffs
from tests.web_app import PASSWORD, add_staff, login
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.launch.stack import Stack

ROWS = 30_000
MAX_GROWTH_MIB = 40


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.processes
def test_a_large_export_streams_in_flat_memory_on_postgresql(pg_url: str,
                                                             tmp_path: Path) -> None:
    upgrade(pg_url)
    seed_handoffs(pg_url, ROWS)
    db = Database(pg_url)
    add_staff(db, PASSWORD)
    db.dispose()
    env = {"HANDOFF_SESSION_HTTPS_ONLY": "false"}  # plain HTTP on loopback: keep the cookie
    with Stack(home=tmp_path / "home", database_url=pg_url, extra_env=env) as stack:
        stack.start_web()
        pid = stack.procs["web"].pid
        with httpx.Client(base_url=stack.web_url.rstrip("/"), timeout=120) as web:
            assert login(web, "ops").status_code == 303
            empty = web.get("/ops/handoffs.csv?from=2100-01-01&to=2100-01-01")
            assert empty.status_code == 200  # warmed up: templates, queries, the CSV writer
            before = _rss_kib(pid)
            peak, done = [before], threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak.append(_rss_kib(pid))
                    time.sleep(0.01)

            sampler = threading.Thread(target=sample)
            sampler.start()
            lines = 0
            try:
                with web.stream("GET", "/ops/handoffs.csv?unmasked=1") as r:
                    assert r.status_code == 200
                    assert "content-length" not in r.headers  # sent as it is read
                    for chunk in r.iter_bytes():
                        lines += chunk.count(b"\n")
            finally:
                done.set()
                sampler.join()
    assert lines == ROWS + 1  # the header and every hand-off, no cut line
    growth = (max(peak) - before) / 1024
    assert growth < MAX_GROWTH_MIB, f"the web process grew {growth:.0f} MiB"
