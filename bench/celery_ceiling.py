"""Celery's own no-op dispatch ceiling: N messages of a task that does nothing (one Redis
INCR), published to a redis-server of our own and consumed by a prefork worker of 2
processes with the project's delivery settings (bench/noop_app.py). Benchmark 2 reports it
beside the project's rate: no design that rings one Celery message per hand-off can go
faster than this on the same machine.

    python -m bench.celery_ceiling [--messages 5000] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from chaos.servers import RedisServer

ROOT = Path(__file__).resolve().parents[1]


def ceiling(messages: int = 5000, concurrency: int = 2) -> dict[str, Any]:
    """Messages per second from the first publish to the last delivery counted."""
    home = Path(tempfile.mkdtemp(prefix="bench-celery-"))
    with RedisServer(home / "redis") as server:
        server.start()
        env = {**os.environ, "BENCH_BROKER_URL": server.url}
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bench.noop_app", "worker", "-l", "WARNING",
             "-c", str(concurrency), "-P", "prefork", "--without-heartbeat",
             "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        counter = redis.Redis.from_url(server.url)
        try:
            from bench.noop_app import app, noop

            app.conf.broker_url = server.url
            noop.delay(0)  # the worker is up once this one is counted
            deadline = time.monotonic() + 60
            while counter.get("bench:noop:done") is None and time.monotonic() < deadline:
                time.sleep(0.1)
            counter.delete("bench:noop:done")
            started = time.monotonic()
            with app.producer_or_acquire() as producer:
                for i in range(messages):
                    noop.apply_async((i,), producer=producer)
            published = time.monotonic() - started
            while int(counter.get("bench:noop:done") or 0) < messages:
                if time.monotonic() - started > 600 or worker.poll() is not None:
                    break
                time.sleep(0.05)
            took = time.monotonic() - started
            done = int(counter.get("bench:noop:done") or 0)
        finally:
            counter.close()
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
    return {"messages": messages, "delivered": done, "seconds": round(took, 2),
            "publish_seconds": round(published, 2), "rate": round(done / took, 1),
            "concurrency": concurrency}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=2)
    a = p.parse_args(argv)
    print(json.dumps(ceiling(a.messages, a.concurrency)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
