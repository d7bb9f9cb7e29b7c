"""VNPost N-GSP adapter: HTTP only (token cache, 401 refresh, short retries); wire in mapping."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from tenacity.wait import wait_base

from integrations.carrier import mapping
from worker.domain.errors import PermanentError, TransientError
from worker.domain.model import CarrierOrder, FeedPage, PostOutcome
from worker.ports.carrier import CarrierPort

if TYPE_CHECKING:
    from worker.settings import Settings

log = logging.getLogger(__name__)

# Short bursts only: 3 attempts, about 0.5 s then 1 s (+ jitter), well under 5 s in total.
DEFAULT_WAIT = wait_exponential(multiplier=0.5, max=2.0) + wait_random(0, 0.5)
DEFAULT_ATTEMPTS = 3
TOKEN_MARGIN_S = 60.0


class VnpostClient(CarrierPort):
    """CarrierPort over the N-GSP gateway. Raises only TransientError or PermanentError."""

    def __init__(
        self,
        base_url: str,
        customer_key: str,
        secret_key: str | SecretStr,
        customer_code: str,
        *,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = DEFAULT_ATTEMPTS,
        wait: wait_base | None = None,
    ) -> None:
        self._base = base_url.rstrip("/") + "/"
        self._key = customer_key
        self._secret = secret_key if isinstance(secret_key, SecretStr) else SecretStr(secret_key)
        self.customer_code = customer_code
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)
        self._timeout = timeout
        self._clock = clock
        self._attempts = max(1, attempts)
        self._wait = wait if wait is not None else DEFAULT_WAIT
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_valid_until = 0.0
        self.token_requests = 0

    @classmethod
    def from_settings(cls, settings: Settings, *, http: httpx.Client | None = None) -> VnpostClient:
        return cls(
            settings.carrier_base_url,
            settings.carrier_customer_key,
            settings.carrier_secret_key,
            settings.carrier_customer_code,
            http=http,
            timeout=settings.carrier_timeout_seconds,
        )

    def __repr__(self) -> str:  # never shows the secret
        return f"VnpostClient(base_url={self._base!r}, customer_code={self.customer_code!r})"

    # --- CarrierPort -----------------------------------------------------------------------
    def post_order(self, order: CarrierOrder) -> PostOutcome:
        body = mapping.build_order_body(order, self.customer_code)
        status, reply = self._call("POST", mapping.POST_PATH, json=body)
        outcome = mapping.parse_post_reply(status, reply)
        log.info(
            "carrier order %s posted (already existed: %s)",
            order.order_number,
            outcome.already_existed,
        )
        return outcome

    def cancel_order(self, order_number: str) -> str:
        params = mapping.cancel_params(self.customer_code, order_number)
        _, reply = self._call("GET", mapping.CANCEL_PATH, params=params)
        message = mapping.parse_cancel_reply(reply)
        log.info("carrier order %s cancelled", order_number)
        return message

    def fetch_events(self, last_id: str | None, page_size: int = 1000) -> FeedPage:
        params = mapping.tracking_params(last_id, page_size)
        _, reply = self._call("GET", mapping.TRACKING_PATH, params=params)
        return mapping.parse_tracking_page(reply, last_id)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # --- Token -----------------------------------------------------------------------------
    def _get_token(self) -> str:
        """The cached token, or a new one; one request per expiry window, even across threads."""
        with self._lock:
            if self._token is not None and self._clock() < self._token_valid_until:
                return self._token
            self._token = None
            token, expires_in = self._request_token()
            margin = min(TOKEN_MARGIN_S, 0.1 * expires_in)
            self._token, self._token_valid_until = token, self._clock() + expires_in - margin
            return token

    def _drop_token(self, used: str) -> None:
        with self._lock:
            if self._token == used:  # another thread may have refreshed it already
                self._token = None

    def _request_token(self) -> tuple[str, float]:
        self.token_requests += 1
        response = self._send(
            "POST",
            mapping.TOKEN_PATH,
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth(self._key, self._secret.get_secret_value()),
        )
        if response.status_code in (400, 401, 403):
            raise PermanentError(
                "không lấy được mã truy cập của bưu điện: sai khóa khách hàng hoặc mật khẩu "
                f"(HTTP {response.status_code}); kiểm tra cấu hình",
                code=f"HTTP {response.status_code}",
            )
        self._raise_for(response)
        body = self._json(response)
        token, expires_in = body.get("access_token"), body.get("expires_in", 3600)
        if not isinstance(token, str) or not token:
            raise TransientError("bưu điện trả mã truy cập rỗng")
        try:
            expires = float(expires_in)
        except (TypeError, ValueError):
            expires = 3600.0
        log.info("carrier token obtained (expires in %.0f s)", expires)
        return token, expires

    # --- Plumbing ----------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict]:
        """One API call: short retries of bursts around (token + 401 refresh + request)."""
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception_type(mapping.BurstError),
            reraise=True,
            before_sleep=lambda rs: log.warning(
                "carrier %s %s failed (%s), attempt %d; retrying",
                method,
                path,
                rs.outcome.exception() if rs.outcome else "?",
                rs.attempt_number,
            ),
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._call_authorized(method, path, **kwargs)
        except mapping.BurstError as exc:
            raise TransientError(f"{exc} (sau {self._attempts} lần thử)") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _call_authorized(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict]:
        for refreshed in (False, True):
            token = self._get_token()
            response = self._send(
                method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )
            if response.status_code != 401:
                self._raise_for(response)
                return response.status_code, self._json(response)
            self._drop_token(token)
            log.info(
                "carrier answered 401 on %s (%s)",
                path,
                "after refresh" if refreshed else "refreshing token",
            )
        raise TransientError("bưu điện vẫn từ chối mã truy cập mới (HTTP 401)")

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = self._base + path
        try:
            return self._http.request(method, url, timeout=self._timeout, **kwargs)
        except httpx.TimeoutException as exc:
            raise mapping.BurstError(f"bưu điện không trả lời kịp ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise mapping.BurstError(f"lỗi kết nối tới bưu điện ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:  # anything else httpx may raise
            raise TransientError(f"lỗi gọi bưu điện ({type(exc).__name__})") from None

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        err = mapping.classify_http(response.status_code, response.headers, response.text)
        if err is not None:
            log.warning("carrier HTTP %s on %s", response.status_code, response.url.path)
            raise err

    @staticmethod
    def _json(response: httpx.Response) -> dict:
        try:
            body = response.json()
        except ValueError:
            raise TransientError("bưu điện trả lời không phải JSON") from None
        if not isinstance(body, dict):
            raise TransientError("bưu điện trả lời không đúng định dạng")
        return body
