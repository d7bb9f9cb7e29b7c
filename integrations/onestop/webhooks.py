"""Standard Webhooks signing and verification for one-stop pushes (via `standardwebhooks`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from worker.domain import json_input
from worker.domain.errors import InvalidInput, PermanentError

# The package fixes the tolerance at 5 minutes either way (not configurable); stated here
# so callers and tests do not have to read its source.
TOLERANCE_SECONDS = 5 * 60

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


class BadSignature(PermanentError):
    """The webhook's headers or signature do not verify (missing, tampered, too old/new)."""

    def __init__(self, detail: str) -> None:
        super().__init__("chữ ký webhook không hợp lệ", code="bad_signature")
        self.detail = detail  # the package's English reason, for logs


def _webhook(secret: str | bytes | SecretStr) -> Webhook:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    try:
        return Webhook(secret)
    except Exception as exc:  # empty or not base64: a configuration error, say so plainly
        raise ValueError("webhook secret is empty or not valid base64 ('whsec_...')") from exc


def _utc(timestamp: datetime | float | None) -> datetime:
    if timestamp is None:
        return datetime.now(UTC)
    if isinstance(timestamp, datetime):
        # Webhook.sign() does replace(tzinfo=utc), so the value must already be UTC.
        return timestamp.replace(tzinfo=UTC) if timestamp.tzinfo is None else (
            timestamp.astimezone(UTC)
        )
    return datetime.fromtimestamp(float(timestamp), tz=UTC)


def sign_webhook(
    secret: str | bytes | SecretStr,
    msg_id: str,
    body_bytes: bytes,
    timestamp: datetime | float | None = None,
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body_bytes`` (timestamp: now when None)."""
    moment = _utc(timestamp)
    signature = _webhook(secret).sign(msg_id, moment, body_bytes.decode("utf-8"))
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(int(moment.timestamp())),
        HEADER_SIGNATURE: signature,
    }


def verify_webhook(
    secret: str | bytes | SecretStr, headers: Mapping[str, str], body_bytes: bytes
) -> dict:
    """Verify signature and timestamp (±5 min, constant-time compare); return the JSON object.

    Raises BadSignature when it does not verify, InvalidInput when a verified body is not a
    JSON object. Deduplicating on ``webhook-id`` is the receiver's job (a unique index).
    """
    hook = _webhook(secret)
    try:
        hook.verify(body_bytes, dict(headers.items()), json_parse=False)
    except WebhookVerificationError as exc:
        raise BadSignature(str(exc)) from None
    except (ValueError, TypeError) as exc:  # bad base64, bad header shape, not UTF-8
        raise BadSignature(f"malformed webhook: {type(exc).__name__}") from None
    # Signed by the sender but not JSON: a malformed body (422), not a bad signature (401).
    payload = json_input.loads(body_bytes)
    if not isinstance(payload, dict):
        raise InvalidInput("nội dung webhook phải là một đối tượng JSON", field="body",
                           code="json.not_object")
    return payload


def single_headers(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The Standard Webhooks headers of a request, each exactly once.

    A header sent twice is refused (BadSignature): otherwise the signature could be checked
    with one `webhook-id` and the message deduplicated with the other.
    """
    found: dict[str, str] = {}
    for key, value in pairs:
        name = key.lower()
        if name in (HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE):
            if name in found:
                raise BadSignature(f"header {name} sent more than once")
            found[name] = value
    return found


def webhook_id_of(headers: Mapping[str, str]) -> str | None:
    for key, value in headers.items():
        if key.lower() == HEADER_ID:
            return value or None
    return None


def signed_webhook_request(
    secret: str | bytes | SecretStr,
    item: Mapping,
    *,
    msg_id: str | None = None,
    timestamp: datetime | float | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers and body to POST an item to the worker's /hooks/onestop, as the system would.

    The default ``msg_id`` is derived from the item id, so pushing the same item twice is a
    redelivery of the same message (as a real sender's retry would be).
    """
    body = json.dumps(dict(item), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    item_id = item.get("id")
    if msg_id is None:
        msg_id = f"msg_{item_id}" if isinstance(item_id, str) and item_id else (
            f"msg_{uuid.uuid4().hex}"
        )
    headers = sign_webhook(secret, msg_id, body, timestamp)
    headers["content-type"] = "application/json; charset=utf-8"
    return headers, body
