"""One-stop wire <-> domain translation: paths, items, push bodies (no I/O).

Items are validated by the wire models in integrations/onestop/items.py (`parse_item`);
`read_item` gives the service each one as a domain value, a refused one included.
HTTP reply classification lives in integrations/onestop/replies.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

from integrations.onestop.items import MAX_LEN, checked_item_id
from integrations.onestop.items import parse_item as parse_item  # callers know it from here
from worker.domain.enums import VN_TZ
from worker.domain.errors import InvalidInput, PermanentError, TransientError
from worker.domain.model import (
    HandoffItem,
    HandoffKind,
    OnestopItem,
    OnestopPage,
    RefusedItem,
    StatusPush,
)
from worker.domain.statuses import Direction
from worker.domain.text import clean_text, sanitize_text

# --- wire paths and limits (contract sections 1 to 3) ---------------------------------------
FEED_PATH = "/api/v1/postal-handoffs"
DOSSIER_PATH = "/api/v1/dossiers/{code}"
PUSH_PATH = "/api/v1/dossiers/{code}/postal-events"
MAX_PAGE_SIZE = 500


# --- feed items (validated by the wire models in integrations/onestop/items.py) -------------
def item_id_of(raw: object) -> str | None:
    """Best effort: the item's id even when the item is invalid (to record a receipt).

    None when there is no usable id: absent, blank, not text or a whole number, longer than
    MAX_LEN["id"], or holding characters that cannot be stored (such an id cannot be
    deduplicated either).
    """
    if not isinstance(raw, Mapping):
        return None
    try:
        return checked_item_id(raw.get("id"))
    except InvalidInput:
        return None


def dossier_code_of(raw: object) -> str | None:
    """Best effort: the dossier code as sent, made storable (forbidden characters replaced,
    cut to its column), even when it is malformed."""
    if not isinstance(raw, Mapping):
        return None
    value = raw.get("dossierCode")
    if isinstance(value, str) and value.strip():
        return sanitize_text(value, MAX_LEN["dossierCode"]) or None
    return None


def read_item(raw: object) -> OnestopItem:
    """One feed or webhook item as the service takes it; never raises."""
    try:
        item_id, dossier_code = item_id_of(raw), dossier_code_of(raw)
    except Exception as err:  # a bug: only this item is quarantined, where it is taken
        return OnestopItem(None, None, err)
    read: HandoffItem | RefusedItem | Exception
    try:
        read = parse_item(raw)
    except InvalidInput as err:
        read = _refused(raw, err)
    except Exception as err:  # (as above)
        read = err
    return OnestopItem(item_id, dossier_code, read)


def _refused(raw: object, err: InvalidInput) -> RefusedItem:
    """What is kept of an invalid item: its direction, and its agency as sent (made
    storable) so that ops see whose it is."""
    pickup = isinstance(raw, dict) and raw.get("type") == HandoffKind.PICKUP_REQUESTED
    agency = raw.get("agency") if isinstance(raw, dict) else None
    return RefusedItem(
        err, Direction.PICKUP if pickup else Direction.RESULT_DELIVERY,
        (sanitize_text(agency.get("code"), 40), sanitize_text(agency.get("name"), 200))
        if isinstance(agency, dict) else None)


def feed_params(after: str | None, limit: int) -> dict[str, str | int]:
    params: dict[str, str | int] = {"limit": max(1, min(int(limit), MAX_PAGE_SIZE))}
    if after:
        params["after"] = after
    return params


def parse_page(body: object) -> OnestopPage:
    """A feed page, each item read on its own (read_item): a bad item never spoils it.

    The cursor is kept only when it is storable text (our cursor column holds 120
    characters); anything else is a malformed page, retried later, never stored.
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("items"), list):
        raise PermanentError("trang dữ liệu của hệ thống một cửa không đúng định dạng",
                             field="items")
    nxt = body.get("next")
    if nxt is not None and nxt != "":
        try:
            nxt = clean_text(nxt, "next", max_len=120, what="con trỏ trang")
        except InvalidInput as err:
            raise TransientError(f"con trỏ trang của hệ thống một cửa không hợp lệ: "
                                 f"{err.reason}") from None
    extra = {k: v for k, v in body.items() if k not in ("items", "next")}
    return OnestopPage(
        items=[read_item(raw) for raw in body["items"]],
        next_cursor=nxt if isinstance(nxt, str) and nxt else None,
        extra=extra,
    )


# --- dossier lookup and status push-back ------------------------------------------------------
def dossier_path(dossier_code: str) -> str:
    return DOSSIER_PATH.format(code=quote(dossier_code, safe=""))


def push_path(dossier_code: str) -> str:
    return PUSH_PATH.format(code=quote(dossier_code, safe=""))


def to_vn_iso(moment: datetime) -> str:
    """ISO 8601 in +07:00; a naive datetime is taken as UTC (the domain's convention)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(VN_TZ).isoformat(timespec="seconds")


def push_body(push: StatusPush) -> dict:
    """The JSON of contract section 3; `late` only when true (the field is optional)."""
    body = {
        "eventId": push.event_id,
        "direction": str(push.direction),
        "status": str(push.status),
        "itemCode": push.item_code,
        "carrierCode": push.carrier_code,
        "carrierText": push.carrier_text,
        "occurredAt": to_vn_iso(push.occurred_at),
        "note": push.note,
    }
    if push.late:
        body["late"] = True
    return body
