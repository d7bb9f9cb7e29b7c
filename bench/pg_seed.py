"""Throw-away PostgreSQL databases for the benchmarks, migrated and bulk-seeded in SQL.

Rows are made by `INSERT ... SELECT generate_series` on the server (100,000 in a second or
two), through the real triggers and constraints of the latest schema. Imported by the
bench scripts next to it (run them as `python bench/<name>.py`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from worker.db.migrate import upgrade

ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
STATUSES = ("delivered", "accepted", "in_transit", "returned", "needs_attention", "requested")
KINDS = ("post_order", "push_status", "push_status", "cancel_order")
OUTCOMES = ("ok", "ok", "ok", "transient", "permanent")


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new database at the latest schema (SQLAlchemy URL), dropped afterwards."""
    name = f"handoff_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{base}/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _pick(values: tuple[str, ...], index: str) -> str:
    """SQL choosing one of `values` by the integer expression `index`."""
    array = ", ".join(f"'{v}'" for v in values)
    return f"(ARRAY[{array}])[1 + ({index}) % {len(values)}]"


def seed_handoffs(url: str, n: int) -> None:
    """`n` hand-offs with personal data, statuses mixed, ready over the last n minutes."""
    if n <= 0:
        return
    with psycopg.connect(_plain(url)) as conn:
        conn.execute(f"""
            INSERT INTO handoffs (dossier_code, direction, generation, source_item_id,
                agency_code, agency_name, procedure_code, procedure_name, citizen_name,
                citizen_phone, citizen_address, province_code, ward_code, cod_amount, status,
                status_reason, last_carrier_text, item_code, order_number, ready_at,
                created_at, updated_at, final_at)
            SELECT '000.00.17.H19-261126-' || lpad(g::text, 7, '0'),
                   CASE WHEN g % 3 = 0 THEN 'pickup' ELSE 'result_delivery' END, 1,
                   'item-' || g, '000.00.17.H19', 'Bộ phận Một cửa huyện Lai Vung',
                   '1.001', 'Cấp giấy chứng nhận quyền sử dụng đất',
                   'Nguyễn Thị Hồng ' || g, '0912' || lpad((g % 1000000)::text, 6, '0'),
                   'Số ' || g || ', ấp Tân Lộc, xã Tân Thành, huyện Lai Vung, Đồng Tháp',
                   '82', '30226', 0, {_pick(STATUSES, 'g')}, '', '',
                   'EB' || lpad(g::text, 9, '0') || 'VN', 'HO' || g,
                   now() at time zone 'utc' - make_interval(mins => g),
                   now() at time zone 'utc', now() at time zone 'utc',
                   now() at time zone 'utc' - make_interval(mins => g) + interval '2 days'
            FROM generate_series(1, {int(n)}) AS g""")


def seed_attempts(url: str, n: int) -> None:
    """`n` attempts (with call durations) on n/2 ledger rows of n/4 hand-offs."""
    if n <= 0:
        return
    seed_handoffs(url, max(1, n // 4))
    with psycopg.connect(_plain(url)) as conn:
        first = conn.execute("SELECT min(id), count(*) FROM handoffs").fetchone()
        assert first is not None
        low, count = first
        conn.execute(f"""
            INSERT INTO jobs (kind, handoff_id, idempotency_key, payload, state, attempts,
                              next_attempt_at, last_error, created_at, updated_at)
            SELECT {_pick(KINDS, 'g')}, {low} + g % {count}, 'bench:' || g, '{{}}',
                   CASE WHEN g % 50 = 0 THEN 'dead' WHEN g % 20 = 0 THEN 'pending'
                        ELSE 'done' END,
                   2, now() at time zone 'utc', '', now() at time zone 'utc',
                   now() at time zone 'utc'
            FROM generate_series(1, {max(1, n // 2)}) AS g""")
        job = conn.execute("SELECT min(id), count(*) FROM jobs").fetchone()
        assert job is not None
        conn.execute(f"""
            INSERT INTO attempts (job_id, number, outcome, error, at, duration_ms)
            SELECT {job[0]} + g % {job[1]}, 1 + g / {job[1]}, {_pick(OUTCOMES, 'g')}, '',
                   now() at time zone 'utc', CASE WHEN g % 10 = 0 THEN NULL
                                                  ELSE (g * 7919) % 3000 END
            FROM generate_series(0, {int(n) - 1}) AS g""")
        conn.execute(f"""
            INSERT INTO sla_breaches (handoff_id, rule, detail, detected_at, cleared_at)
            SELECT {low} + g, 'not_delivered', '', now() at time zone 'utc',
                   CASE WHEN g % 20 = 0 THEN now() at time zone 'utc' END
            FROM generate_series(0, {count - 1}, 10) AS g""")
