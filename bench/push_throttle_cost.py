"""What the push hook's failure throttle costs: a valid push, and a try when its door is full.

Run: .venv/bin/python bench/push_throttle_cost.py [-n 300] [--database-url URL]
On a fresh migrated database (a temporary SQLite file unless an EMPTY database's URL is
given), with one agency on its own account: (1) the real web app (TestClient, in-process)
takes N rightly signed pushes with the throttle as it is, then N with
push_throttle.admit/verified replaced by no-ops, three rounds each; prints the median
answer time of each round. (2) The push door is filled to its budget (100,000 rows of
wrong signatures from many addresses, 200 login rows beside them) and 600 more tries are
counted: prints the median, 90th percentile and largest time of push_throttle.admit.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from starlette.testclient import TestClient

from simulators.carrier.push import push_body, signed_push
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import LoginAttempt
from worker.domain.enums import VN_TZ
from worker.service.access import push_throttle
from worker.service.access.login_throttle import Admission
from worker.service.admin import agency_admin
from worker.settings import Settings
from worker.web.app import create_app

AGENCY = "000.00.17.H19"
SECRET = secrets.token_urlsafe(36)
SCOPES = ("pair", "addr", "user", "net")  # spelled out: the bench runs on older code too


def _add_agency(db: Database, settings: Settings) -> None:
    with db.unit_of_work() as s:
        agency_admin.save(s, settings, {
            "code": AGENCY, "name": "Bộ phận Một cửa Lai Vung", "tel": "02773000000",
            "address": "Trung tâm Phục vụ hành chính công", "province_code": "82",
            "ward_code": "30226", "dispatch": "auto", "route": "ngsp",
            "customer_code": "C0917", "customer_key": secrets.token_urlsafe(32),
            "secret_key": secrets.token_urlsafe(32), "push_secret": SECRET,
        }, "bench", adding=True)


def valid_pushes(client: TestClient, n: int, tag: str) -> float:
    """Median ms of n rightly signed pushes (orders we do not know: logged, answered 200)."""
    at = datetime.now(VN_TZ).replace(microsecond=0) - timedelta(hours=1)
    took = []
    for i in range(n):
        headers, raw = signed_push(SECRET, push_body(f"{AGENCY}-010126-{i:04d}/{tag}", 3, at))
        started = time.perf_counter()
        r = client.post(f"/hooks/carrier/{AGENCY}", content=raw, headers=headers)
        took.append(time.perf_counter() - started)
        assert r.status_code == 200, r.text
    return round(statistics.median(took) * 1000, 2)


def full_door(db: Database, settings: Settings, tries: int = 600) -> dict[str, float]:
    now = datetime.now(UTC)
    with db.unit_of_work() as s:
        s.execute(insert(LoginAttempt), [{"key": f"pair:u{i}|10.0.0.{i % 250}", "at": now,
                                          "succeeded": False} for i in range(200)])
        for batch in range(10):
            s.execute(insert(LoginAttempt), [{
                "key": f"{push_throttle.DOOR}{SCOPES[i % 4]}:c{batch}-{i}|198.51.{i % 200}.1",
                "at": now, "succeeded": False} for i in range(10_000)])
    took = []
    for i in range(tries):
        started = time.perf_counter()
        push_throttle.admit(db, settings, f"code{i}", f"203.0.113.{i % 250}")
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return {"median_ms": round(statistics.median(took), 2),
            "p90_ms": round(took[int(len(took) * 0.9)], 2), "max_ms": round(took[-1], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--pushes", type=int, default=300)
    parser.add_argument("--database-url", default="", help="an EMPTY database (migrated here)")
    args = parser.parse_args()
    real: tuple[Callable[..., Any], Callable[..., Any]] = (push_throttle.admit,
                                                          push_throttle.verified)
    rounds: dict[str, list[float]] = {"throttled": [], "not_throttled": []}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        url = args.database_url or f"sqlite:///{home / 'handoff.db'}"
        upgrade(url)
        db = Database(url)
        settings = Settings(home=home, database_url=url, push_throttle_pair=10**9,
                            push_throttle_address=10**9, push_throttle_agency=10**9,
                            push_throttle_network=10**9)
        _add_agency(db, settings)
        with TestClient(create_app(build_runtime(settings=settings, db=db)),
                        base_url="https://testserver") as client:
            valid_pushes(client, 50, "warm")
            for n in range(3):
                push_throttle.admit, push_throttle.verified = real
                rounds["throttled"].append(valid_pushes(client, args.pushes, f"on{n}"))
                push_throttle.admit = lambda *_a, **_k: Admission((), 0.0)  # type: ignore[assignment]
                push_throttle.verified = lambda *_a, **_k: None  # type: ignore[assignment]
                rounds["not_throttled"].append(valid_pushes(client, args.pushes, f"off{n}"))
            push_throttle.admit, push_throttle.verified = real  # type: ignore[assignment]
        door = full_door(db, settings)
        db.dispose()
    print(json.dumps({"database": url.split(":", 1)[0], "valid_push_median_ms": rounds,
                      "admit_with_full_push_door": door}))


if __name__ == "__main__":
    main()
