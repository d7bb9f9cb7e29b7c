"""SLA-notification adapter (NotifierPort): one Standard Webhooks signed JSON POST a message."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from integrations.http_client import new_client
from integrations.http_errors import retry_after
from integrations.onestop.webhooks import sign_webhook
from worker.domain.errors import PermanentError, TransientError
from worker.ports.notifier import NotifierPort

if TYPE_CHECKING:
    from worker.settings import Settings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0  # short: a slow receiver only delays its own notifications
# Answers worth asking again later; any other non-2xx is a refusal a person must fix
# (a wrong secret, a moved URL), so the ledger keeps it dead for replay instead.
TRANSIENT_STATUSES = frozenset({408, 425, 429})


class WebhookNotifier(NotifierPort):
    """POSTs each notification, signed; no retries here (the ledger retries with backoff)."""

    def __init__(self, url: str, secret: str | SecretStr, *, http: httpx.Client | None = None,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        self._url = url
        self._secret = secret if isinstance(secret, SecretStr) else SecretStr(secret)
        self._owns_http = http is None
        self._http = http if http is not None else new_client(timeout)

    @classmethod
    def from_settings(cls, settings: Settings, *, http: httpx.Client | None = None
                      ) -> WebhookNotifier:
        return cls(settings.notify_url, settings.notify_secret, http=http)

    def __repr__(self) -> str:  # never shows the secret
        return f"WebhookNotifier({self._url!r})"

    def notify(self, message_id: str, body: Mapping[str, Any]) -> None:
        if not self._url:
            raise PermanentError("chưa cấu hình địa chỉ nhận thông báo (HANDOFF_NOTIFY_URL)")
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        # The signature carries the real time: the receiver checks it against its clock.
        headers = sign_webhook(self._secret, message_id, raw)
        headers["content-type"] = "application/json; charset=utf-8"
        try:
            r = self._http.post(self._url, content=raw, headers=headers)
        except httpx.HTTPError as err:
            raise TransientError(f"không gửi được thông báo ({type(err).__name__})") from None
        if 200 <= r.status_code < 300:
            return
        log.warning("SLA notification %s refused: HTTP %s", message_id, r.status_code)
        if r.status_code >= 500 or r.status_code in TRANSIENT_STATUSES:
            raise TransientError(f"nơi nhận thông báo trả lời HTTP {r.status_code}",
                                 retry_after=retry_after(r.headers))
        raise PermanentError(f"nơi nhận thông báo từ chối (HTTP {r.status_code})",
                             code=str(r.status_code))

    def close(self) -> None:
        if self._owns_http:
            self._http.close()
