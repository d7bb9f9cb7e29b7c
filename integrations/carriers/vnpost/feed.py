"""The tracking feed of VNPost N-GSP (contract section 5): a page of RESTHeart docs read into
domain events. Bad docs never stop the feed: each is skipped, or kept as a logged event that
moves nothing (docs/carrier-vnpost-ngsp.md, "Bad entries")."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from integrations.carriers.vnpost.wire import (
    COD_CODES,
    FIRST_CURSOR,
    MAX_ITEM_CODE,
    MAX_NOTES,
    MAX_PAGE_SIZE,
    MAX_POST_OFFICE,
    MAX_STATUS_CODE,
    MAX_STATUS_TEXT,
    STATUS_TABLE,
    lookup_status,
)
from worker.domain.errors import InvalidInput, TransientError
from worker.domain.model import FeedPage, TrackingEvent
from worker.domain.privacy import scrub
from worker.domain.rules import MAX_ORDER_NUMBER
from worker.domain.text import check_moment, safe_display, sanitize_text

log = logging.getLogger(__name__)

MAX_COD_AMOUNT = 10**15  # đồng; a reported CODAmount at or over this is not one
MAX_OID = 64  # a RESTHeart ObjectId is 24 hex digits; anything far longer is not one


def tracking_params(last_id: str | None, page_size: int) -> dict[str, str]:
    size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    return {"pagesize": str(size), "lastId": last_id or FIRST_CURSOR}


def _as_int(value: object) -> int:
    if isinstance(value, bool):
        raise TypeError("bool is not a number")
    if isinstance(value, Mapping) and "$date" in value:  # RESTHeart extended JSON
        value = value["$date"]
    return int(str(value).strip()) if isinstance(value, str) else int(value)  # type: ignore[call-overload]




def _parse_doc(doc: Mapping[str, Any], oid: str, order_number: str) -> TrackingEvent:
    """One tracking doc -> TrackingEvent; never raises. Free text is kept but made storable
    (forbidden characters replaced, cut to its column); a code or time we cannot use (not a
    number, out of range, outside the sane date window) makes an event that is logged and
    moves no state."""
    try:
        code = _as_int(doc.get("StatusCode"))
        if abs(code) >= MAX_STATUS_CODE:
            raise ValueError("StatusCode out of range")
        occurred = datetime.fromtimestamp(_as_int(doc.get("EventTime")) / 1000, UTC)
        check_moment(occurred, "EventTime")
        status, known = lookup_status(code)
        text = sanitize_text(doc.get("StatusMessage"), MAX_STATUS_TEXT) or (
            STATUS_TABLE[code][1] if known else "")
        if not known:
            log.warning("unknown carrier status code %s on order %s", code, order_number)
    except (TypeError, ValueError, OverflowError, OSError, InvalidInput) as exc:
        # Recorded, not dropped: ops see it in the log and it moves no state. The time we
        # read it stands in for the time because the doc gave no usable one.
        code, occurred, status, known = -1, datetime.now(UTC), None, False
        text = (f"sự kiện không hợp lệ ({type(exc).__name__}): StatusCode="
                f"{safe_display(doc.get('StatusCode'), 40)}, EventTime="
                f"{safe_display(doc.get('EventTime'), 40)}")
    return TrackingEvent(
        event_id=oid,
        order_number=order_number,
        item_code=sanitize_text(doc.get("ItemCode"), MAX_ITEM_CODE) or None,
        occurred_at=occurred,
        raw_code=code,
        raw_text=scrub(text)[:MAX_STATUS_TEXT],
        status=status,
        known_code=known,
        post_office=sanitize_text(doc.get("POSID"), MAX_POST_OFFICE),
        notes=scrub(sanitize_text(doc.get("Notes"), MAX_NOTES)),
        cod=COD_CODES.get(code),
        amount=_cod_amount(doc, oid) if code in COD_CODES else None,
    )


def _cod_amount(doc: Mapping[str, Any], oid: str) -> int | None:
    """CODAmount of a doc, read when present (not in the contract; docs/carrier-vnpost-
    ngsp.md section 5): a whole number of đồng from 0 up; anything else is not an amount."""
    raw = doc.get("CODAmount")
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < MAX_COD_AMOUNT:
        return raw
    log.warning("tracking doc %s has a CODAmount that is not an amount; ignored", oid)
    return None


def parse_tracking_page(body: dict, last_id: str | None) -> FeedPage:
    """RESTHeart page -> FeedPage.

    A doc without an ``_id.$oid`` or without an OrderNumber cannot be attributed nor
    deduplicated: it is skipped (logged), but the cursor still moves past every doc that
    has an oid, so one bad doc never blocks the feed. A doc with both but a bad code or time
    becomes an event with status None / known_code False, so it lands in the log. Over-long
    text is cut to its column (an over-long OrderNumber too: see _order_number_of).
    """
    if not isinstance(body, Mapping):
        raise TransientError("trang theo dõi của bưu điện không đúng định dạng")
    embedded = body.get("_embedded") or {}
    docs = embedded.get("rh:doc") if isinstance(embedded, Mapping) else None
    if docs is None:
        docs = []
    if not isinstance(docs, list):
        raise TransientError("trang theo dõi của bưu điện không đúng định dạng (rh:doc)")
    events: list[TrackingEvent] = []
    cursor = last_id or FIRST_CURSOR
    for doc in docs:
        oid = _oid_of(doc)
        if oid is None:
            log.warning("tracking doc without _id.$oid skipped")
            continue
        cursor = oid
        order_number = _order_number_of(doc, oid)
        if not order_number:
            log.warning("tracking doc %s without OrderNumber skipped", oid)
            continue
        events.append(_parse_doc(doc, oid, order_number))
    return FeedPage(events=events, last_id=cursor)


def _order_number_of(doc: Mapping[str, Any], oid: str) -> str:
    """OrderNumber; a longer one than ours can be is cut, ending with "…" (never in ours), so
    it matches no hand-off and the event is logged as "order not known"."""
    number = sanitize_text(doc.get("OrderNumber"), 4 * MAX_ORDER_NUMBER)
    if len(number) <= MAX_ORDER_NUMBER:
        return number
    log.warning("tracking doc %s has an OrderNumber of %d characters; not ours", oid, len(number))
    return number[: MAX_ORDER_NUMBER - 1] + "…"


def _oid_of(doc: object) -> str | None:
    """The doc's `_id.$oid` when it can serve as our cursor (storable text of at most
    MAX_OID characters); None otherwise, and the doc is skipped."""
    if not isinstance(doc, Mapping):
        return None
    ident = doc.get("_id")
    oid = ident.get("$oid") if isinstance(ident, Mapping) else ident
    if not isinstance(oid, str) or not oid or len(oid) > MAX_OID:
        return None
    return oid if sanitize_text(oid, MAX_OID) == oid else None


# --- HTTP status classification -------------------------------------------------------------
