"""The web process's memory while ops download a 100,000-row CSV export, on PostgreSQL.

Run: .venv/bin/python bench/csv_export_memory.py [--rows 100000] [--parallel 1]
(PostgreSQL at TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/test).

Seeds the hand-offs in a fresh database (bench/pg_seed.py), starts the real web process
(`handoff web`) on it, logs in as ops through the login form (one user per parallel
download), warms up with a one-row export, then downloads
`/ops/handoffs.csv?from=2000-01-01&to=2100-01-01` while sampling the process's VmRSS from
/proc every 10 ms. Prints the RSS before, the highest sample during, the growth, VmHWM, and
the rows and bytes received.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from pg_seed import fresh_database, seed_handoffs

import worker
from worker.db.engine import Database
from worker.service.access.users import add_user

PASSWORD = "bench-password-123"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
EXPORT = "/ops/handoffs.csv?from=2000-01-01&to=2100-01-01"


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _login(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=300, follow_redirects=False)
    page = client.get("/login")
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    r = client.post("/login", data={"csrf": found.group(1), "username": username,
                                    "password": PASSWORD})
    assert r.status_code == 303, (r.status_code, r.text[:500])
    return client


def _download(client: httpx.Client, out: dict[str, int]) -> None:
    size = lines = 0
    with client.stream("GET", EXPORT) as r:
        out["status"] = r.status_code
        for chunk in r.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\n")
    out["bytes"], out["lines"] = size, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--parallel", type=int, default=1,
                        help="downloads at once, each by another ops user")
    args = parser.parse_args()
    print(f"code under test: {worker.__file__}")
    with fresh_database() as url, tempfile.TemporaryDirectory() as home:
        seed_handoffs(url, args.rows)
        db = Database(url)
        with db.unit_of_work() as s:
            for i in range(args.parallel):
                add_user(s, f"ops{i}", PASSWORD, "ops")
        db.dispose()
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
        env.update({"HANDOFF_DATABASE_URL": url, "HANDOFF_HOME": home,
                    "HANDOFF_ALLOW_DEMO_SECRETS": "true", "HANDOFF_SESSION_HTTPS_ONLY": "false",
                    "HANDOFF_CSV_MAX_ROWS": str(max(args.rows, 1))})
        log = open(Path(home) / "web.log", "wb")  # noqa: SIM115 - closed below
        web = subprocess.Popen([sys.executable, "-m", "worker.cli", "web", "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("web did not start: " + (Path(home) / "web.log")
                                       .read_text(errors="replace")[-2000:])
                time.sleep(0.2)
            clients = [_login(base, f"ops{i}") for i in range(args.parallel)]
            for c in clients:  # warm-up: templates, the first query, the CSV writer
                assert c.get(EXPORT.replace("2000-01-01", "2100-01-01")).status_code == 200
            before = _status_kb(web.pid, "VmRSS")
            samples: list[int] = []
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    samples.append(_status_kb(web.pid, "VmRSS"))
                    time.sleep(0.01)

            sampler = threading.Thread(target=sample)
            sampler.start()
            results: list[dict[str, int]] = [{} for _ in clients]
            started = time.monotonic()
            threads = [threading.Thread(target=_download, args=(c, out))
                       for c, out in zip(clients, results, strict=True)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            took = time.monotonic() - started
            done.set()
            sampler.join()
            peak = max(samples)
            print(f"rows seeded {args.rows}, downloads {args.parallel}, took {took:.1f} s, "
                  f"{len(samples)} samples")
            for out in results:
                print(f"  status {out.get('status')}, {out.get('lines', 0) - 1} data lines, "
                      f"{out.get('bytes', 0) / 1e6:.1f} MB")
            print(f"web RSS before {before / 1024:.1f} MiB, peak during {peak / 1024:.1f} MiB, "
                  f"growth {(peak - before) / 1024:.1f} MiB, VmHWM "
                  f"{_status_kb(web.pid, 'VmHWM') / 1024:.1f} MiB")
            for c in clients:
                c.close()
        finally:
            web.terminate()
            web.wait(timeout=10)
            log.close()


if __name__ == "__main__":
    main()
