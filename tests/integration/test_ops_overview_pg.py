"""On PostgreSQL the overview's delivery times are computed by the database (percentile_cont)
and each agency's name is looked up by index, one agency at a time: the same numbers and
names as the plain computation over the same rows (the one SQLite still uses), deliveries
that are no real time (ended before they began, in the future) left out alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bench.pg_seed import seed_ops
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import Handoff, utcnow
from worker.domain.moments import elapsed, hours_between
from worker.service.ledger import uow
from worker.service.views import ops_queries as oq

RENAMED = "Ủy ban nhân dân xã Tân Thành"  # greater than "Bộ phận Một cửa ..." in any collation


def test_the_overview_agrees_with_the_plain_computation(pg_url: str) -> None:
    upgrade(pg_url)
    seed_ops(pg_url, 400, 2000)
    db = Database(pg_url)
    try:
        with db.unit_of_work() as s:
            code = s.scalar(select(Handoff.agency_code).order_by(Handoff.id))
            one = s.scalar(select(Handoff.id).where(Handoff.agency_code == code))
            s.execute(update(Handoff).where(Handoff.id == one).values(agency_name=RENAMED))
            recent = s.execute(select(Handoff.id, Handoff.ready_at).where(
                Handoff.status == "delivered", Handoff.direction == "result_delivery",
                Handoff.ready_at >= utcnow() - timedelta(days=60)).limit(2)).all()
            s.execute(update(Handoff).where(Handoff.id == recent[0][0]).values(
                final_at=recent[0][1] - timedelta(hours=1)))
            s.execute(update(Handoff).where(Handoff.id == recent[1][0]).values(
                final_at=utcnow() + timedelta(days=2)))
        with uow.read(db) as s:
            now = utcnow()
            times = oq.delivery_times(s, now)
            by_agency = oq.counts_by_agency(s)
            rows = s.execute(select(Handoff.ready_at, Handoff.final_at).where(
                Handoff.status == "delivered", Handoff.direction == "result_delivery",
                Handoff.final_at.is_not(None), Handoff.ready_at >= now - timedelta(days=90)))
            hours = [hours_between(r, f) for r, f in rows if elapsed(r, f) >= timedelta(0)
                     and elapsed(f, now) >= -timedelta(days=1)]
            plain = s.execute(select(Handoff.agency_code, func.max(Handoff.agency_name),
                                     Handoff.status, func.count())
                              .group_by(Handoff.agency_code, Handoff.status)).all()
    finally:
        db.dispose()
    assert times["n"] == len(hours) > 10
    assert times["median_h"] == pytest.approx(oq.percentile(hours, 50))
    assert times["p90_h"] == pytest.approx(oq.percentile(hours, 90))
    names = {agency: name for agency, name, _, _ in plain}
    assert names[code] == RENAMED
    assert {r["agency"]: r["name"] for r in by_agency["rows"]} == names
    assert {(r["agency"], status): n for r in by_agency["rows"]
            for status, n in r["counts"].items()} == {(a, st): n for a, _, st, n in plain}
