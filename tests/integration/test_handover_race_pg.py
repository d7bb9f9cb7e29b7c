"""Two desks printing the hand-over record for the same envelopes at once, on PostgreSQL
(READ COMMITTED, where SQLite's one writer hides the race): one record, never a second that
replaces the first."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes import ListBell
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import Handoff, HandoverRecord
from worker.service.flow import handover, handover_desk
from worker.service.ledger import uow
from worker.service.runtime import Runtime
from worker.settings import Settings

AGENCY = "000.00.17.H19"
READY = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


@pytest.fixture
def rt(pg_url: str, tmp_path: Path) -> Iterator[Runtime]:
    upgrade(pg_url)
    db = Database(pg_url)
    yield build_runtime(settings=Settings(database_url=pg_url, home=tmp_path), db=db,
                        bell=ListBell())
    db.dispose()


def test_two_desks_printing_the_same_envelopes_at_once_make_one_record(
        rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    with uow.begin(rt) as s:
        for n in (1, 2, 3):
            code = f"{AGENCY}-261126-{n:04d}"
            s.add(Handoff(dossier_code=code, direction="result_delivery", agency_code=AGENCY,
                          source_item_id=f"i{n}", status="accepted", order_number=f"{code}/R1",
                          ready_at=READY))
    # both desks have read the same envelopes before either writes; the second to number a
    # record does it once the first has committed (the review's READ COMMITTED race: it had
    # seen no record for the same set, then numbered its own after the first's)
    together = threading.Barrier(2, timeout=10)
    first_look = threading.local()
    leader_done, numbering = threading.Event(), []
    chosen, prefix = handover.chosen, handover.number_prefix

    def in_step(*args: object, **kwargs: object) -> list[Handoff]:
        found = chosen(*args, **kwargs)  # type: ignore[arg-type]
        if not getattr(first_look, "done", False):
            first_look.done = True
            together.wait()
        return found

    def second_waits(agency: str, day: date) -> str:
        numbering.append(threading.get_ident())
        if numbering[0] != threading.get_ident():
            leader_done.wait(5)
        return prefix(agency, day)

    monkeypatch.setattr(handover, "chosen", in_step)
    monkeypatch.setattr(handover, "number_prefix", second_waits)
    made: list[handover.Made] = []
    errors: list[BaseException] = []

    def desk(actor: str) -> None:
        try:
            made.append(handover_desk.print_record(
                rt, agency_code=AGENCY, direction="result_delivery", codes=None, actor=actor))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)
        leader_done.set()

    threads = [threading.Thread(target=desk, args=(f"canbo{i}",)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sorted(m.created for m in made) == [False, True]
    with uow.read(rt) as s:
        records = s.execute(select(HandoverRecord.number, HandoverRecord.closed_how)).all()
    assert records == [(made[0].number, None)]
