"""The hand-off list as a CSV download that Excel opens with Vietnamese text intact,
streamed as it is read, one download at a time per person."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import datetime

import anyio
from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from worker.domain.enums import VN_TZ
from worker.service.ledger import uow
from worker.service.runtime import Runtime
from worker.service.views import ops_queries as oq
from worker.service.views.ops_filters import Filters

# A cell starting with one of these is read as a formula by Excel and LibreOffice
# (=HYPERLINK(...), +cmd|..., -1+1, @SUM(...)); tab and CR can hide such a start.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BUSY_VI = ("Bạn đang tải một tệp CSV khác. Mỗi người chỉ tải được một tệp mỗi lúc: hãy chờ "
           "tệp đó tải xong rồi thử lại.")
BUSY_RETRY_SECONDS = 10


def safe_cell(value: object) -> str:
    """The cell as text, quoted with a leading ' when a spreadsheet would run it.

    Names, addresses, agency names and reasons come from the one-stop feed: never trusted.
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_chunks(rows: Iterable[Iterable[object]], every: int = oq.CSV_BATCH) -> Iterator[bytes]:
    """UTF-8 with a byte-order mark (without it Excel reads the file as ANSI), `every`
    rows a chunk: what is sent never waits for the whole file."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write("\ufeff")
    for n, r in enumerate(rows, 1):
        writer.writerow([safe_cell(cell) for cell in r])
        if n % every == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def csv_bytes(rows: Iterable[Iterable[object]]) -> bytes:
    return b"".join(csv_chunks(rows))


class ExportSlots:
    """Who is downloading an export from this web process right now. Taken and given back
    on the event loop only, so no lock is needed."""

    def __init__(self) -> None:
        self._busy: set[str] = set()

    def take(self, who: str) -> bool:
        if who in self._busy:
            return False
        self._busy.add(who)
        return True

    def give_back(self, who: str) -> None:
        self._busy.discard(who)


def export_slots(app: Starlette) -> ExportSlots:
    """The app's one registry, made on first use."""
    slots: ExportSlots | None = getattr(app.state, "csv_exports", None)
    if slots is None:
        slots = app.state.csv_exports = ExportSlots()
    return slots


class CsvDownload(StreamingResponse):
    """Chunks sent as they are made. However the response ends (sent, failed, the browser
    gone), the chunks' generator is closed, which ends its database read, and `done` runs
    (the person's export slot is given back)."""

    def __init__(self, chunks: Generator[bytes, None, None], done: Callable[[], None], *,
                 unmasked: bool) -> None:
        stamp = datetime.now(VN_TZ).strftime("%Y%m%d-%H%M")
        name = f"chuyen-phat-{stamp}{'-day-du' if unmasked else ''}.csv"
        super().__init__(iterate_in_threadpool(chunks), media_type="text/csv; charset=utf-8",
                         headers={"Content-Disposition": f'attachment; filename="{name}"',
                                  # personal data: never kept by a proxy or the browser
                                  "Cache-Control": "no-store"})
        self._chunks = chunks
        self._done = done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # shielded: a cancelled request still closes its read and frees the slot; no
            # thread is inside the generator now (a cancelled step waits for its thread)
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(self._chunks.close)
            self._done()


def export_chunks(rt: Runtime, f: Filters, *, unmasked: bool, limit: int
                  ) -> Generator[bytes, None, None]:
    """The export's bytes, read in one long read (PostgreSQL: a server-side cursor) that
    starts with the first chunk asked for and ends when the generator is closed."""
    with uow.read(rt) as s:
        yield from csv_chunks(oq.csv_rows(s, f, unmasked=unmasked, limit=limit))


def csv_download(rt: Runtime, f: Filters, *, unmasked: bool, limit: int,
                 done: Callable[[], None]) -> CsvDownload:
    return CsvDownload(export_chunks(rt, f, unmasked=unmasked, limit=limit), done,
                       unmasked=unmasked)
