"""Statements sent to PostgreSQL per hand-off taken from the one-stop feed and per tracking
event applied: the round trips the worker's own code costs, counted, not timed (a count
does not drift between runs the way a time does).

    python -m bench.round_trips [--items 50]     (TEST_PG_URL: the server, as bench/pg_seed)

It takes a page of valid result-ready items of an agency in automatic dispatch, the way
the one-stop feed's page is taken (worker/service/flow/ingest.py take_page, as the feed's
poll takes it, one transaction); runs their posts and then the "accepted" push-backs
those queue, half of each the way a pool process runs one bell message of `job_batch` rows
(worker/service/jobs/together.py) and half one row a message (runner.run_job: the naive
design), against the test suite's fakes of the post office and the one-stop; then one
tracking page of a milestone for each of those orders (as the feed applies it:
feeds.apply_chunk, chunks sized as the feed sizes them); all on a database of its own
(created and dropped). It prints the statements per item by kind. Each SAVEPOINT and
RELEASE is one round trip, and so are a transaction's BEGIN and COMMIT (counted too).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import event

from bench.pg_seed import fresh_database
from integrations.onestop.mapping import read_item
from tests.fakes import ListBell
from tests.onestop_items import numbered
from tests.service.fakes import FakeCarrier, FakeOnestop
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.domain.enums import EventSource
from worker.domain.model import TrackingEvent
from worker.domain.statuses import Status
from worker.service.admin import agency_admin
from worker.service.flow import feeds
from worker.service.flow.ingest import take_page
from worker.service.jobs import runner, together
from worker.service.ledger import uow
from worker.service.runtime import Runtime
from worker.settings import Settings

AGENCY = {"000.00.17.H19": {"name": "UBND xã Lai Vung", "tel": "02773000000",
                            "address": "Trung tâm Phục vụ hành chính công",
                            "province_code": "82", "ward_code": "30226", "dispatch": "auto"}}


@contextmanager
def statements(db: Database) -> Iterator[Counter[str]]:
    """The statements sent on the database's engine inside the block, by their first words
    (savepoint names folded; SAVEPOINT and RELEASE count: each is a round trip)."""
    seen: Counter[str] = Counter()

    def count(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        words = re.sub(r"sa_savepoint_\d+", "…", " ".join(statement.split()))
        seen[" ".join(words.split()[:4])] += 1

    def begin(conn):  # type: ignore[no-untyped-def]
        seen["BEGIN"] += 1

    def commit(conn):  # type: ignore[no-untyped-def]
        seen["COMMIT"] += 1

    hooks = {"before_cursor_execute": count, "begin": begin, "commit": commit}
    for name, hook in hooks.items():
        event.listen(db.engine, name, hook)
    try:
        yield seen
    finally:
        for name, hook in hooks.items():
            event.remove(db.engine, name, hook)


def counted(db: Database, work: Callable[[], None]) -> Counter[str]:
    """The statements `work` sends, by their first words."""
    with statements(db) as seen:
        work()
    return seen


def measure(items: int) -> dict[str, Counter[str]]:
    with fresh_database() as url:
        return _measure(url, items)


def _measure(url: str, items: int) -> dict[str, Counter[str]]:
    db = Database(url)
    bell = ListBell()
    rt = build_runtime(settings=Settings(database_url=url), db=db, bell=bell,
                       carriers={"ngsp": FakeCarrier()}, onestop=FakeOnestop())
    try:
        with db.unit_of_work() as s:
            agency_admin.import_agencies(s, rt.settings, AGENCY, "bench")
        page = [read_item(numbered(n)) for n in range(1, items + 1)]

        def take() -> None:
            with uow.begin(rt) as s:
                take_page(s, page, EventSource.ONESTOP_FEED, rt.settings)

        ingest = counted(db, take)
        posts = bell.take()
        counts = {"one-stop item taken": ingest, **_jobs(rt, "post", posts)}
        counts.update(_jobs(rt, "push-back", bell.take()))
        at = datetime.now(UTC)
        events = [TrackingEvent(event_id=f"{n:024d}", order_number=f"{item.dossier_code}/R1",
                                item_code=f"EB{n:09d}VN", occurred_at=at, raw_code=1,
                                raw_text="Đã lấy hàng", status=Status.PICKED_UP,
                                known_code=True) for n, item in enumerate(page, 1)]

        def apply_page() -> None:  # as the feed applies a page: a chunk a transaction
            for _, apply, _ in feeds.chunk_steps(events, "", feeds.ChunkSizes()):
                with uow.begin(rt) as s:
                    apply(s)

        counts["tracking event applied"] = counted(db, apply_page)
        return counts
    finally:
        db.dispose()


def _jobs(rt: Runtime, what: str, ids: list[int]) -> dict[str, Counter[str]]:
    """Half the rows run as bell messages of `job_batch` rows, half one row a message."""
    half, size = len(ids) // 2, rt.settings.job_batch
    batched, alone = ids[:half], ids[half:2 * half]

    def in_messages() -> None:
        for start in range(0, len(batched), size):
            together.run_jobs(rt, batched[start:start + size])
            together.settled()  # its last answers, settled by the process's settler

    def one_by_one() -> None:
        for job_id in alone:
            runner.run_job(rt, job_id)

    return {f"{what} run, {size} rows a message": counted(rt.db, in_messages),
            f"{what} run, one row a message": counted(rt.db, one_by_one)}


def report(counts: dict[str, Counter[str]], items: int) -> str:
    lines = []
    for what, seen in counts.items():
        per = items // 2 if " run, " in what else items  # a row run: half the items each way
        lines.append(f"- {what}: **{sum(seen.values()) / per:.1f} statements** ("
                     + ", ".join(f"{k} {v / per:.2f}" for k, v in seen.most_common()) + ")")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=50)
    a = p.parse_args(argv)
    print(report(measure(a.items), a.items))
    return 0


if __name__ == "__main__":
    sys.exit(main())
