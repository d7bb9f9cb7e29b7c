"""Benchmark 6 (bench/ops_queries.py) at a tiny size on PostgreSQL: the seed looks like
what the code writes (the real SLA pass finds nothing more to open), the report has a row
for every ops query, and the timeline's statements read the log through its index."""

from __future__ import annotations

from sqlalchemy import func, select

from bench.ops_queries import SPECS, counts, markdown, measure
from bench.pg_seed import seed_ops
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import Handoff, SlaBreach, utcnow
from worker.domain.rules import order_number
from worker.domain.statuses import Direction
from worker.domain.validation import check_dossier_code, normalize_phone
from worker.service.flow import sla
from worker.settings import Settings


def test_the_report_at_a_tiny_size(pg_url: str) -> None:
    upgrade(pg_url)
    seed_ops(pg_url, 400, 2000)
    db = Database(pg_url)
    try:
        with db.unit_of_work() as s:
            for code, phone, order, direction in s.execute(select(
                    Handoff.dossier_code, Handoff.citizen_phone, Handoff.order_number,
                    Handoff.direction)):  # as the one-stop sends them and ingest stores them
                assert check_dossier_code(code) == code and normalize_phone(phone) == phone
                assert order == order_number(code, Direction(direction))
            assert s.scalar(select(func.count()).select_from(SlaBreach).where(
                SlaBreach.cleared_at.is_(None))), "no hand-off is late"
            again = sla.MarkResult()
            sla.scan(s, utcnow(), sla.limits_of(Settings()), again)
            assert (again.opened, again.cleared) == (0, 0)  # the seed's breaches are the pass's
            s.rollback()
    finally:
        db.dispose()
    rows = measure(pg_url, runs=4, base_runs=2, page_runs=2)
    report = markdown(rows, {"counts": counts(pg_url), "seed_s": 0.0, "commit": "test",
                             "command": "test"})
    for spec in SPECS:
        assert f"| {spec.name} |" in report
    timeline = rows[0]
    assert timeline.spec is SPECS[0] and timeline.base, "no baseline without the index"
    assert "ix_status_log_handoff" in {i for p in timeline.plans for i in p.indexes}
    assert not any(p.seq_scans for r in rows for p in r.plans)  # nothing is big here
    assert "2,000 log events, 400 hand-offs" in report
