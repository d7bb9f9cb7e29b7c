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


# What ops see: a province's hand-offs over `days` days (bench/ops_queries.py).
AGENCY_NAMES = ("Lai Vung", "Cao Lãnh", "Sa Đéc", "Hồng Ngự", "Tháp Mười", "Tam Nông",
                "Thanh Bình", "Lấp Vò", "Châu Thành", "Tân Hồng", "Mỹ Thọ", "Tân Thành")
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Phan", "Trương", "Đặng", "Bùi")
GIVEN = ("Thị Hồng", "Văn Tuấn", "Minh Khoa", "Ngọc Lan", "Thị Mai", "Hoàng Phúc",
         "Thanh Thảo", "Văn Dũng", "Thị Hạnh", "Quốc Hùng", "Kim Ngân")
PATH = ("picked_up", "in_transit", "in_transit", "at_delivery_office", "out_for_delivery")
CODE = {"accepted": "100", "picked_up": "1", "in_transit": "2", "at_delivery_office": "3",
        "delivery_failed": "4", "delivered": "5", "returning": "7", "returned": "9"}
TEXT = {"accepted": "Thành công", "picked_up": "Bưu tá đã nhận hàng",
        "in_transit": "Đang vận chuyển", "at_delivery_office": "Đến bưu cục phát",
        "out_for_delivery": "Đang phát", "delivery_failed": "Phát không thành công",
        "delivered": "Phát thành công", "returning": "Đang chuyển hoàn",
        "returned": "Đã chuyển hoàn"}
STUCK = ("in_transit", "at_delivery_office", "delivery_failed", "returning", "accepted")


def _code_of(status: str, table: dict[str, str] = CODE) -> str:
    """SQL: the carrier's code (or text) of `status` (an SQL expression), '' when none."""
    return "CASE " + " ".join(f"WHEN {status} = '{s}' THEN '{c}'" for s, c in table.items()) \
        + " ELSE '' END"


def seed_ops(url: str, handoffs: int, events: int, days: int = 365) -> None:
    """`handoffs` hand-offs ready over the last `days` days, each with about
    events/handoffs log entries (the ingest, the acceptance, carrier events, its current
    status last) and as many ledger rows (its post, a push per status) with their attempts;
    then the real SLA pass (worker/service/flow/sla.py scan) opens the breaches of the late
    and stuck ones, and earlier breaches that healed are there too, cleared.

    Most are final; those of the last days are on their way. Of the last 90 days 0.3% need
    attention and 0.7% are stuck on the way (a tenth of those rates before: the ones
    nobody cleaned up); a push refused for good (dead) is 1 in 500 hand-offs."""
    n, mean = int(handoffs), events / max(1, handoffs)
    with psycopg.connect(_plain(url)) as conn:
        conn.execute(f"""
            CREATE TEMP TABLE seed AS
            WITH b AS (
                SELECT g, (g::bigint * 2654435761) % 1000 AS r, g % 23 AS a,
                       (g::bigint * 48271) % ({n} * 4 / 5 + 1) AS p,
                       ({n} - g) * ({days} * 86400.0 / {n}) + g * 37 % 600 AS age,
                       CASE WHEN g % 12 = 0 THEN 144 ELSE 24 * (1 + g % 4) + g % 24 END AS late
                FROM generate_series(1, {n}) AS g),
            s AS (
                SELECT b.*, now() at time zone 'utc' - make_interval(secs => age) AS ready,
                    CASE WHEN r < 3 AND (age < 90 * 86400 OR g % 10 = 0) THEN 'needs_attention'
                         WHEN age < 1800 THEN 'requested'
                         WHEN age >= late * 3600 THEN CASE
                             WHEN r < 930 THEN 'delivered' WHEN r < 960 THEN 'returned'
                             WHEN r < 993 OR (age > 90 * 86400 AND g % 10 > 0) THEN 'cancelled'
                             ELSE {_pick(STUCK, 'r')} END
                         WHEN age < late * 540 THEN 'accepted'
                         WHEN age < late * 1080 THEN 'picked_up'
                         WHEN age < late * 2160 THEN 'in_transit'
                         WHEN age < late * 2880 THEN 'at_delivery_office'
                         WHEN r % 40 = 7 THEN 'delivery_failed'
                         ELSE 'out_for_delivery' END AS status
                FROM b)
            SELECT s.*, least(age, late * 3600.0) AS life,
                   greatest(1, floor({mean} + g * 7 % 5 - 2 + 0.5))::int AS k,
                   '000.00.' || lpad((a + 1)::text, 2, '0') || '.H19' AS agency,
                   '000.00.' || lpad((a + 1)::text, 2, '0') || '.H19-'
                     || to_char(ready - make_interval(days => 3 + (r % 15)::int), 'DDMMYY')
                     || '-' || lpad(row_number() OVER (PARTITION BY a, (ready -
                        make_interval(days => 3 + (r % 15)::int))::date ORDER BY g)::text,
                        4, '0') AS code,
                   CASE WHEN g % 10 = 0 THEN 'pickup' ELSE 'result_delivery' END AS dir
            FROM s""")
        conn.execute(f"""
            INSERT INTO handoffs (dossier_code, direction, generation, source_item_id,
                agency_code, agency_name, procedure_code, procedure_name, citizen_name,
                citizen_phone, citizen_address, province_code, ward_code, cod_amount, status,
                status_reason, last_carrier_code, last_carrier_text, item_code, order_number,
                ready_at, created_at, updated_at, accepted_at, final_at, last_event_at)
            SELECT code, dir, 1, 'item-' || g, agency,
                'Bộ phận Một cửa xã ' || {_pick(AGENCY_NAMES, 'a')},
                '1.00' || (g % 7), 'Cấp giấy chứng nhận quyền sử dụng đất',
                {_pick(FAMILY, 'p')} || ' ' || {_pick(GIVEN, 'p / 10')},
                CASE WHEN p % 33 = 0 THEN '0277' || lpad((p * 7907 % 10000000)::text, 7, '0')
                     ELSE {_pick(('09', '03', '08', '07', '05'), 'p')}
                          || lpad((p * 2654435761 % 100000000)::text, 8, '0') END,
                'Số ' || (p % 300 + 1) || ', ấp Tân Lộc, xã ' || {_pick(AGENCY_NAMES, 'a')}
                    || ', tỉnh Đồng Tháp', '82', '30226',
                CASE WHEN r % 5 = 0 THEN 35000 ELSE 0 END, status, '',
                nullif({_code_of('status')}, '')::int, '',
                CASE WHEN status NOT IN ('requested', 'needs_attention')
                     THEN 'EB' || lpad((100000000 + g)::text, 9, '0') || 'VN' END,
                code || CASE WHEN dir = 'pickup' THEN '/P1' ELSE '/R1' END, ready, ready,
                ready + make_interval(secs => life),
                CASE WHEN status NOT IN ('requested', 'needs_attention')
                     THEN ready + interval '10 minutes' END,
                CASE WHEN status IN ('delivered', 'returned', 'cancelled')
                     THEN ready + make_interval(secs => life) END,
                ready + make_interval(secs => life * (k - 1) / k)
            FROM seed ORDER BY g""")
        _seed_log_and_ledger(conn)
    _mark_late(url)


def _seed_log_and_ledger(conn: psycopg.Connection) -> None:
    """The status log and the ledger of the hand-offs of the temporary `seed` table."""
    conn.execute("CREATE TEMP TABLE ev AS SELECT h.id, h.dossier_code, h.order_number, "
                 "h.status AS cur, h.ready_at, s.life, s.k, s.g, j FROM seed s JOIN handoffs "
                 "h ON h.source_item_id = 'item-' || s.g, generate_series(1, s.k) AS j")
    status = (f"CASE WHEN j = 1 THEN 'requested' WHEN j = 2 THEN 'accepted' WHEN j = k "
              f"THEN cur ELSE {_pick(PATH, 'j - 3')} END")
    conn.execute(f"""
        INSERT INTO status_log (handoff_id, dossier_code, order_number, source, status,
            raw_code, raw_text, post_office, notes, applied, reason, reason_code,
            reason_params, dedup_key, occurred_at, recorded_at)
        SELECT id, dossier_code, order_number,
            CASE WHEN j = 1 THEN 'onestop-feed' WHEN j = 2 THEN 'worker'
                 WHEN j % 3 = 0 THEN 'carrier-push' ELSE 'feed' END, st,
            {_code_of('st')}, {_code_of('st', TEXT)},
            CASE WHEN j > 2 THEN (870000 + g % 90)::text ELSE '' END, '', true,
            CASE WHEN j = 1 THEN 'hand-off received' ELSE 'forward' END,
            CASE WHEN j = 1 THEN 'handoff_received' ELSE 'forward' END, '{{}}',
            CASE WHEN j = 2 THEN 'accepted:' || order_number
                 WHEN j > 2 THEN 'carrier:' || order_number || '|' || j END, at, at
        FROM (SELECT ev.*, {status} AS st,
                     ready_at + make_interval(secs => life * (j - 1) / k) AS at FROM ev) e
        ORDER BY id, j""")
    conn.execute(f"""
        INSERT INTO jobs (kind, handoff_id, idempotency_key, payload, state, attempts,
                          next_attempt_at, last_error, created_at, updated_at, done_at)
        SELECT CASE WHEN j = 1 THEN 'post_order' ELSE 'push_status' END, id,
            CASE WHEN j = 1 THEN 'post:' || order_number
                 ELSE 'push:pev_' || left(md5(order_number || j), 24) END,
            CASE WHEN j = 1 THEN '{{}}'::json ELSE json_build_object('dossier_code',
                dossier_code, 'status', {status}, 'occurred_at', at) END,
            CASE WHEN g % 500 = 1 AND j > 1 THEN 'dead' ELSE 'done' END,
            CASE WHEN g % 20 = 3 THEN 2 ELSE 1 END, at,
            CASE WHEN g % 500 = 1 AND j > 1 THEN 'one-stop answered 422' ELSE '' END,
            at, at, at
        FROM (SELECT ev.*, ready_at + make_interval(secs => life * (j - 1) / k) AS at
              FROM ev) e ORDER BY id, j""")
    conn.execute("""
        INSERT INTO attempts (job_id, number, outcome, error, at, duration_ms)
        SELECT id, n, CASE WHEN n < attempts THEN 'transient'
                           WHEN state = 'dead' THEN 'permanent' ELSE 'ok' END,
               CASE WHEN n < attempts THEN 'timeout' ELSE '' END, created_at,
               (id::bigint * 7919) % 3000
        FROM jobs, generate_series(1, attempts) AS n ORDER BY id, n""")


def _mark_late(url: str) -> None:
    """Breaches as a year of SLA passes leaves them: healed ones of slow deliveries (cleared
    when delivered), then one real pass over the hand-offs as they are now, each breach
    dated when its rule broke (a pass runs every minute) rather than all now."""
    from worker.db.engine import Database
    from worker.db.models import utcnow
    from worker.service.flow import sla
    from worker.settings import Settings

    with psycopg.connect(_plain(url)) as conn:
        conn.execute("""
            INSERT INTO sla_breaches (handoff_id, rule, detail, detected_at, cleared_at)
            SELECT id, 'not_delivered', 'Chưa phát xong sau 5 ngày',
                   ready_at + interval '5 days', final_at FROM handoffs
            WHERE final_at > ready_at + interval '5 days'""")
    db = Database(url)
    try:
        with db.unit_of_work() as s:
            sla.scan(s, utcnow(), sla.limits_of(Settings()), sla.MarkResult())
    finally:
        db.dispose()
    with psycopg.connect(_plain(url)) as conn:
        conn.execute("""
            UPDATE sla_breaches b SET detected_at = CASE b.rule
                WHEN 'not_accepted' THEN h.ready_at + interval '1 hour'
                WHEN 'not_picked_up' THEN h.ready_at + interval '1 day'
                WHEN 'not_delivered' THEN h.ready_at + interval '5 days'
                WHEN 'silent' THEN greatest(h.ready_at, h.accepted_at, h.last_event_at)
                                   + interval '3 days'
                ELSE coalesce(h.last_event_at, h.ready_at) END + interval '1 minute'
            FROM handoffs h WHERE h.id = b.handoff_id AND b.cleared_at IS NULL""")
    # what autovacuum does within minutes of a bulk load: statistics, the visibility map
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
