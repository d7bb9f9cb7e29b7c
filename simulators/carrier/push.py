"""A status push as the post office sends it (contract "Status push"): body, headers, HMAC.

Tests and the demo use it to play the carrier's side of POST /hooks/carrier/{agency};
production never imports it. The wire constants come from the adapter's own module, so
the two sides cannot drift apart.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from integrations.carriers.vnpost.push import (
    HEADER_SIGNATURE,
    HEADER_TRANSACTION,
    PUSH_STATUS_TABLE,
    format_time,
    sign,
)


def push_body(order_number: str, code: int, at: datetime, *, item_code: str = "EB123456785VN",
              note: str = "", locate: str = "Bưu cục Lai Vung", weight: int = 120,
              **overrides: Any) -> dict[str, Any]:
    """The body the carrier posts for one status of one order (`at` aware; any zone)."""
    name = PUSH_STATUS_TABLE.get(code, (None, "Trạng thái khác"))[1]
    body: dict[str, Any] = {
        "tracking_code": item_code, "order_code": order_number, "status_code": code,
        "status_name": name, "note": note, "locate": locate, "datetime": format_time(at),
        "total_weight": weight,
    }
    return {**body, **overrides}


def signed_push(secret: str, body: dict[str, Any] | bytes, *, transaction: str | None = None,
                ) -> tuple[dict[str, str], bytes]:
    """(headers, raw body) of one push signed with an account's push secret; a fresh
    transaction id unless given (the carrier re-sends the same id until answered success)."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {"content-type": "application/json",
               HEADER_TRANSACTION: transaction or f"tx-{uuid.uuid4().hex[:16]}",
               HEADER_SIGNATURE: sign(secret, raw)}
    return headers, raw
