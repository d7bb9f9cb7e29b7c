"""Read-only queries behind the ops pages: search, filtered lists, overview numbers, CSV rows."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, Select, case, cast, func, select
from sqlalchemy.orm import Session

from worker.db.models import Handoff, SlaBreach, utcnow
from worker.db.readable import read_rows
from worker.domain.errors import InvalidInput
from worker.domain.moments import day_start, hours_between, local, local_date, safe_add
from worker.domain.privacy import mask_address, mask_name, mask_phone
from worker.domain.sla_rules import Rule, severity
from worker.domain.statuses import LABEL_VI, Direction, Status, status_label
from worker.domain.validation import normalize_phone
from worker.service.admin.replay import count_dead
from worker.service.flow.agency_settings import agency_names
from worker.service.views.ops_filters import FILTER_LAST, Filters
from worker.service.views.ops_filters import clean_query as clean_query

PAGE_SIZE = 50
DAYS = 14
CSV_LIMIT = 100_000  # rows of one export unless told (Settings.csv_max_rows)
CSV_BATCH = 500  # hand-offs read (and written out) at a time by an export
CSV_CUT_VI = ("Tệp đã bị cắt: chỉ gồm {limit} hồ sơ đầu tiên (mới nhất trước), còn hồ sơ "
              "khác khớp bộ lọc. Hãy lọc hẹp hơn (theo ngày, cơ quan hoặc trạng thái) để "
              "tải phần còn lại.")
TIMES_DAYS = 90  # median and P90 delivery times over hand-offs ready in this many days
BREACHES_SHOWN = 100  # the overview lists this many late hand-offs; the tile counts all
ATTENTION_SHOWN = 50
DIRECTION_VI = {Direction.RESULT_DELIVERY.value: "Trả kết quả",
                Direction.PICKUP.value: "Thu gom hồ sơ"}
CSV_HEADER = ["Mã hồ sơ", "Chiều", "Mã cơ quan", "Cơ quan", "Trạng thái", "Mã trạng thái",
              "Công dân", "Điện thoại", "Địa chỉ", "Số hiệu bưu gửi", "Số đơn hàng",
              "Sẵn sàng lúc", "Kết thúc lúc", "Lý do"]


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int


def row(h: Handoff, *, unmasked: bool = False) -> dict[str, Any]:
    """One hand-off for a list or a CSV line; personal data masked unless asked."""
    return {
        "id": h.id, "dossier_code": h.dossier_code, "direction": h.direction,
        "direction_label": DIRECTION_VI.get(h.direction, h.direction),
        "agency_code": h.agency_code, "agency_name": h.agency_name,
        "status": h.status, "status_label": status_label(h.status),
        "citizen": h.citizen_name if unmasked else mask_name(h.citizen_name),
        "phone": h.citizen_phone if unmasked else mask_phone(h.citizen_phone),
        "address": h.citizen_address if unmasked else mask_address(h.citizen_address),
        "item_code": h.item_code or "", "order_number": h.order_number or "",
        "ready_at": local(h.ready_at), "final_at": local(h.final_at),
        "reason": h.status_reason,
    }


def search(session: Session, q: str, limit: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """By dossier code (or its beginning), item code, order number or citizen phone."""
    q = q.strip()
    if not q:
        return []
    cond = ((Handoff.dossier_code == q) | Handoff.dossier_code.startswith(q, autoescape=True)
            | (Handoff.item_code == q.upper()) | (Handoff.order_number == q))
    try:
        cond = cond | (Handoff.citizen_phone == normalize_phone(q))
    except InvalidInput:
        pass  # not a phone number: search the codes only
    found = read_rows(session, select(Handoff).where(cond).order_by(
        Handoff.ready_at.desc(), Handoff.id.desc()).limit(limit), Handoff.id, entities=True)
    return [row(h) for h in found]


def _filtered(f: Filters) -> Select[Handoff]:
    q = select(Handoff)
    if f.status:
        q = q.where(Handoff.status == f.status)
    if f.direction:
        q = q.where(Handoff.direction == f.direction)
    if f.agency:
        q = q.where(Handoff.agency_code == f.agency)
    if f.date_from:
        q = q.where(Handoff.ready_at >= day_start(f.date_from))
    if f.date_to:  # inclusive: up to the end of that +07:00 day
        q = q.where(Handoff.ready_at < day_start(f.date_to + timedelta(days=1)))
    return q


def list_handoffs(session: Session, f: Filters, page: int = 1) -> Page:
    """One page of the filtered list, newest first."""
    total = int(session.scalar(select(func.count()).select_from(_filtered(f).subquery())) or 0)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    found = read_rows(session, _filtered(f).order_by(Handoff.ready_at.desc(), Handoff.id.desc())
                      .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE), Handoff.id,
                      entities=True)
    return Page([row(h) for h in found], total, page, pages)


def csv_rows(session: Session, f: Filters, *, unmasked: bool = False,
             limit: int = CSV_LIMIT) -> Iterator[list[str]]:
    """The header, then the filtered hand-offs, newest first, at most `limit`, then (when
    more matched) one line saying the file was cut. Only ops may ask unmasked.

    The ids come through a server-side cursor (yield_per: PostgreSQL fetches CSV_BATCH at a
    time) and the rows CSV_BATCH at a time by id, so memory stays flat whatever the size of
    the export; a row whose stored values cannot be read is left out (read_rows)."""
    yield CSV_HEADER
    ids = session.scalars(_filtered(f).with_only_columns(Handoff.id)
                          .order_by(Handoff.ready_at.desc(), Handoff.id.desc())
                          .limit(limit + 1).execution_options(yield_per=CSV_BATCH))
    taken, cut = 0, False
    for batch in ids.partitions():
        if taken + len(batch) > limit:  # the id past the limit: there is more than fits
            batch, cut = batch[:limit - taken], True
        taken += len(batch)
        found = {h.id: h for h in read_rows(session, select(Handoff).where(
            Handoff.id.in_(batch)), Handoff.id, entities=True)} if batch else {}
        for handoff_id in batch:
            if handoff_id in found:
                r = row(found[handoff_id], unmasked=unmasked)
                yield [r["dossier_code"], r["direction_label"], r["agency_code"],
                       r["agency_name"], r["status_label"], r["status"], r["citizen"],
                       r["phone"], r["address"], r["item_code"], r["order_number"],
                       r["ready_at"], r["final_at"], r["reason"]]
    if cut:
        yield [CSV_CUT_VI.format(limit=f"{limit:,}".replace(",", "."))]


def agencies(session: Session) -> list[tuple[str, str]]:
    """(code, name) of every agency seen, for the filter box."""
    return [(code, name or code) for code, name in agency_names(session).items()]


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (as numpy's default); None when empty."""
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def delivery_times(session: Session, now: datetime | None = None,
                   days: int = TIMES_DAYS) -> dict[str, Any]:
    """Median and P90 hours from ready to delivered.

    Result deliveries only (a collection from the citizen is another service), and only
    those ready in the last `days` days: recent enough to mean something, and bounded.
    A delivery stored as ending before it began or in the future is no real time: left out.
    PostgreSQL computes the two (percentile_cont interpolates as `percentile` does): 200,000
    hand-offs a year deliver some 45,000 in 90 days, and bringing each to Python cost the
    overview 100-200 ms (bench/ops_queries.py). SQLite (the embedded default) in Python."""
    now = now or utcnow()
    where = (Handoff.status == Status.DELIVERED, Handoff.final_at.is_not(None),
             Handoff.direction == Direction.RESULT_DELIVERY,
             Handoff.ready_at >= safe_add(now, timedelta(days=-days)),
             Handoff.final_at >= Handoff.ready_at,
             Handoff.final_at <= safe_add(now, timedelta(days=1)))  # a day of clock skew
    if session.get_bind().dialect.name == "postgresql":
        took = func.extract("epoch", Handoff.final_at - Handoff.ready_at) / 3600
        n, median, p90 = session.execute(select(
            func.count(), *(cast(func.percentile_cont(p).within_group(took), Float)
                            for p in (0.5, 0.9))).where(*where)).one()
        return {"n": n, "median_h": median, "p90_h": p90, "days": days}
    hours = [hours_between(ready, final) for ready, final, _ in read_rows(
        session, select(Handoff.ready_at, Handoff.final_at, Handoff.id).where(*where),
        Handoff.id)]
    return {"n": len(hours), "median_h": percentile(hours, 50), "p90_h": percentile(hours, 90),
            "days": days}


def per_day(session: Session, now: datetime | None = None, days: int = DAYS) -> list[dict]:
    """Hand-offs by the +07:00 day they became ready, the last `days` days, oldest first."""
    today = local_date(now or utcnow()) or FILTER_LAST
    first = today - timedelta(days=days - 1)
    counts = {first + timedelta(days=i): 0 for i in range(days)}
    for ready, _ in read_rows(session, select(Handoff.ready_at, Handoff.id).where(
            Handoff.ready_at >= day_start(first)), Handoff.id):
        d = local_date(ready)  # None past year 9999 at +07:00: not one of these days anyway
        if d in counts:
            counts[d] += 1
    return [{"day": d.isoformat(), "label": d.strftime("%d/%m"), "n": n}
            for d, n in counts.items()]


def counts_by_agency(session: Session) -> dict[str, Any]:
    """Counts per status per agency: the statuses present (in rank order) and one row each."""
    table: dict[str, dict[str, Any]] = {}
    # counted from the (agency_code, status) index alone, each agency's name then looked up
    # in (agency_code, agency_name): the greatest of 200,000 names compared one by one cost
    # more than the counting (bench/ops_queries.py)
    counted = select(Handoff.agency_code, Handoff.status, func.count().label("n")).group_by(
        Handoff.agency_code, Handoff.status).subquery()
    named = select(func.max(Handoff.agency_name)).where(
        Handoff.agency_code == counted.c.agency_code).scalar_subquery()
    rows = session.execute(select(counted.c.agency_code, named, counted.c.status, counted.c.n))
    seen: set[str] = set()
    for code, name, status, n in rows:
        entry = table.setdefault(code or "", {"agency": code or "", "name": name or code or "",
                                              "counts": {}, "total": 0})
        entry["counts"][status] = int(n)
        entry["total"] += int(n)
        seen.add(status)
    order: list[str] = [s.value for s in LABEL_VI if s.value in seen]
    order += sorted(seen - set(order))
    return {"statuses": order, "rows": [table[k] for k in sorted(table)]}


def _late() -> ColumnElement[bool]:
    """Open breaches, except those of hand-offs in needs_attention: those are listed once,
    in the attention table (their breach would only repeat it)."""
    return SlaBreach.cleared_at.is_(None) & (Handoff.status != Status.NEEDS_ATTENTION.value)


def _severity_sql() -> ColumnElement[int]:
    """sla_rules.severity as SQL, so the worst come first before the list is cut."""
    return case({r.value: severity(r) for r in Rule}, value=SlaBreach.rule, else_=0)


def count_open_breaches(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SlaBreach)
                              .join(Handoff, Handoff.id == SlaBreach.handoff_id)
                              .where(_late())) or 0)


def open_breaches(session: Session, limit: int = BREACHES_SHOWN) -> list[dict[str, Any]]:
    """SLA breaches not cleared yet, worst rule first (as `handoff stuck`), then the
    longest waiting."""
    rows = read_rows(session, select(SlaBreach, Handoff)
                     .join(Handoff, Handoff.id == SlaBreach.handoff_id).where(_late())
                     .order_by(_severity_sql().desc(), SlaBreach.detected_at, SlaBreach.id)
                     .limit(limit), SlaBreach.id)
    return [{"handoff_id": h.id, "dossier_code": h.dossier_code, "agency_name": h.agency_name,
             "status": h.status, "status_label": status_label(h.status), "rule": b.rule,
             "detail": b.detail, "detected_at": local(b.detected_at)} for b, h in rows]


def breaches_of(session: Session, handoff_id: int) -> list[dict[str, Any]]:
    found = read_rows(session, select(SlaBreach).where(SlaBreach.handoff_id == handoff_id)
                      .order_by(SlaBreach.detected_at), SlaBreach.id, entities=True)
    return [{"rule": b.rule, "detail": b.detail, "detected_at": local(b.detected_at),
             "cleared_at": local(b.cleared_at), "notified_at": local(b.notified_at)}
            for b in found]


def count_attention(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Handoff).where(
        Handoff.status == Status.NEEDS_ATTENTION)) or 0)


def needing_attention(session: Session, limit: int = ATTENTION_SHOWN) -> list[dict[str, Any]]:
    found = read_rows(session, select(Handoff).where(Handoff.status == Status.NEEDS_ATTENTION)
                      .order_by(Handoff.updated_at.desc()).limit(limit), Handoff.id,
                      entities=True)
    return [row(h) for h in found]


def overview(session: Session, now: datetime | None = None) -> dict[str, Any]:
    """Everything on the overview page, as plain data (also served as JSON)."""
    agencies_table = counts_by_agency(session)
    days = per_day(session, now)
    return {
        "breaches": open_breaches(session),
        "breaches_n": count_open_breaches(session),  # the tiles: every one, not the list
        "attention": needing_attention(session),
        "attention_n": count_attention(session),
        "dead": count_dead(session),
        "by_agency": agencies_table,
        "total": sum(r["total"] for r in agencies_table["rows"]),
        "per_day": days,
        "per_day_max": max([d["n"] for d in days] + [1]),
        "times": delivery_times(session, now),
        "at": local(now or utcnow()),
    }
