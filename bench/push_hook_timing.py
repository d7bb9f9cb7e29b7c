"""Whether the push hook's timing tells a known agency from an unknown code (issue 13, item 7).

Run: .venv/bin/python bench/push_hook_timing.py [-n 2000] [--database-url URL]
Builds the real web app (TestClient, in-process) on a fresh migrated database (a temporary
SQLite file unless an EMPTY database's URL is given) with one agency on its own account
with a push secret, then sends N pairs of wrongly signed pushes: one to that agency, one to
an unknown code of the same length, in random order within each pair. Prints the median of
(known - unknown) answer times and the share of pairs where the known agency was slower
(about 50 % when the two cannot be told apart). The failure throttle is set out of reach
(it would answer 429 to both after a few tries), so what is timed is the signature path.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from simulators.carrier.push import push_body, signed_push
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.domain.enums import VN_TZ
from worker.service.admin import agency_admin
from worker.settings import Settings
from worker.web.app import create_app

KNOWN, UNKNOWN = "000.00.17.H19", "000.00.99.H99"  # same length: the URL costs the same
OUT_OF_REACH = {"push_throttle_address": 10**9, "push_throttle_agency": 10**9,
                "push_throttle_network": 10**9, "push_throttle_pair": 10**9}


def _settings(home: Path, url: str) -> Settings:
    # only the settings this version has: the bench also runs on the code before the
    # throttle, for the figure it is compared with
    extra = {k: v for k, v in OUT_OF_REACH.items() if k in Settings.model_fields}
    return Settings(home=home, database_url=url, **extra)


def _add_agency(db: Database, settings: Settings) -> None:
    with db.unit_of_work() as s:
        agency_admin.save(s, settings, {
            "code": KNOWN, "name": "Bộ phận Một cửa Lai Vung", "tel": "02773000000",
            "address": "Trung tâm Phục vụ hành chính công", "province_code": "82",
            "ward_code": "30226", "dispatch": "auto", "route": "ngsp",
            "customer_code": "C0917", "customer_key": secrets.token_urlsafe(32),
            "secret_key": secrets.token_urlsafe(32), "push_secret": secrets.token_urlsafe(36),
        }, "bench", adding=True)


def _timed(client: TestClient, agency: str, raw: bytes, headers: dict[str, Any]) -> float:
    started = time.perf_counter()
    r = client.post(f"/hooks/carrier/{agency}", content=raw, headers=headers)
    took = time.perf_counter() - started
    assert r.status_code == 401, (agency, r.status_code, r.text)
    return took


def measure(client: TestClient, pairs: int, warmup: int = 200) -> list[float]:
    """(known - unknown) seconds for each pair, after `warmup` pairs not counted."""
    body = push_body("000.00.17.H19-201126-0001/R1", 7, datetime.now(VN_TZ))
    headers, raw = signed_push("not-the-secret-" + "x" * 32, body)
    diffs = []
    for n in range(warmup + pairs):
        order = [KNOWN, UNKNOWN]
        random.shuffle(order)
        took = {agency: _timed(client, agency, raw, headers) for agency in order}
        if n >= warmup:
            diffs.append(took[KNOWN] - took[UNKNOWN])
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--pairs", type=int, default=2000)
    parser.add_argument("--database-url", default="", help="an EMPTY database (migrated here)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        url = args.database_url or f"sqlite:///{home / 'handoff.db'}"
        upgrade(url)
        db = Database(url)
        settings = _settings(home, url)
        _add_agency(db, settings)
        rt = build_runtime(settings=settings, db=db)
        with TestClient(create_app(rt), base_url="https://testserver") as client:
            diffs = measure(client, args.pairs)
        db.dispose()
    slower = sum(d > 0 for d in diffs) / len(diffs)
    print(json.dumps({
        "database": url.split(":", 1)[0], "pairs": len(diffs),
        "median_difference_ms": round(statistics.median(diffs) * 1000, 4),
        "mean_difference_ms": round(statistics.fmean(diffs) * 1000, 4),
        "known_slower_share": round(slower, 3),
    }))


if __name__ == "__main__":
    main()
