"""HTTP client of the one-stop system (OnestopPort): requests, inline burst retries, errors."""

from __future__ import annotations

import logging
from typing import Any, Self

import httpx
from pydantic import SecretStr
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity.wait import wait_base

from integrations.http_client import new_client
from integrations.onestop import mapping, replies
from worker.domain.errors import NotFound, PermanentError, TransientError
from worker.domain.model import OnestopPage, StatusPush
from worker.ports.onestop import OnestopPort

log = logging.getLogger(__name__)

# Waits longer than this are the ledger's job (minutes to hours), not the client's.
MAX_INLINE_WAIT_SECONDS = 5.0


class OnestopClient(OnestopPort):
    """Talks to the one-stop API; raises only TransientError or PermanentError (and subclasses).

    Short transient bursts (transport errors, timeouts, 5xx) are retried here, at most
    ``max_attempts`` times with exponential backoff and jitter; 429 is raised at once
    (``replies.RateLimited``, a TransientError carrying ``retry_after``).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | SecretStr,
        *,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        max_attempts: int = 3,
        wait: wait_base | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        self._timeout = timeout
        self._owns_http = http is None
        self._http = http if http is not None else new_client(timeout)
        self._max_attempts = max(1, max_attempts)
        self._wait = wait if wait is not None else wait_exponential_jitter(
            multiplier=0.5, max=4.0, jitter=0.5
        )

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> OnestopClient:
        return cls(
            settings.onestop_base_url,
            settings.onestop_api_key,
            timeout=settings.onestop_timeout_seconds,
            **kwargs,
        )

    def __repr__(self) -> str:  # never shows the key
        return f"OnestopClient({self._base!r})"

    # --- OnestopPort ------------------------------------------------------------------------
    def fetch_handoffs(self, after: str | None, limit: int = 500) -> OnestopPage:
        what = "đọc danh sách hồ sơ chuyển bưu chính"
        response = self._request("GET", mapping.FEED_PATH, what,
                                 params=mapping.feed_params(after, limit))
        error = replies.error_for_status(response.status_code, response.headers,
                                         _body(response), what=what)
        if error is not None:
            raise error
        return mapping.parse_page(_json(response, what))

    def push_status(self, push: StatusPush) -> bool:
        what = "cập nhật trạng thái bưu chính"
        response = self._request("POST", mapping.push_path(push.dossier_code), what,
                                 json=mapping.push_body(push))
        outcome = replies.classify_push_reply(response.status_code, response.headers,
                                              _body(response), dossier_code=push.dossier_code)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def get_dossier(self, dossier_code: str) -> dict:
        what = f"tra cứu hồ sơ {dossier_code}"
        response = self._request("GET", mapping.dossier_path(dossier_code), what)
        if response.status_code == 404:
            raise NotFound(f"hệ thống một cửa không có hồ sơ {dossier_code}",
                                   field="dossierCode", code="404")
        error = replies.error_for_status(response.status_code, response.headers,
                                         _body(response), what=what)
        if error is not None:
            raise error
        body = _json(response, what)
        if not isinstance(body, dict):
            raise PermanentError(f"phản hồi khi {what} không đúng định dạng")
        return body

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport --------------------------------------------------------------------------
    def _retryable(self, exc: BaseException) -> bool:
        if not isinstance(exc, TransientError) or isinstance(exc, replies.RateLimited):
            return False
        return exc.retry_after is None or exc.retry_after <= MAX_INLINE_WAIT_SECONDS

    def _request(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        retrying = Retrying(
            retry=retry_if_exception(self._retryable),
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            reraise=True,
        )
        response: httpx.Response | None = None
        for attempt in retrying:
            with attempt:
                response = self._send_once(method, path, what, **kwargs)
        assert response is not None
        return response

    def _send_once(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        """One request; transient replies (5xx, 408) raise so that tenacity retries them."""
        try:
            response = self._http.request(method, self._base + path, headers=self._headers,
                                          timeout=self._timeout, **kwargs)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise PermanentError(
                f"địa chỉ hệ thống một cửa không hợp lệ ({type(exc).__name__}); "
                "đề nghị kiểm tra HANDOFF_ONESTOP_BASE_URL"
            ) from None
        except httpx.TimeoutException as exc:
            log.warning("onestop %s %s timed out (%s)", method, path, type(exc).__name__)
            raise TransientError(f"hết thời gian chờ hệ thống một cửa khi {what}") from None
        except httpx.HTTPError as exc:
            log.warning("onestop %s %s failed: %s", method, path, type(exc).__name__)
            raise TransientError(
                f"không kết nối được hệ thống một cửa khi {what} ({type(exc).__name__})"
            ) from None
        log.debug("onestop %s %s -> %s", method, path, response.status_code)
        if response.status_code >= 500 or response.status_code == 408:
            error = replies.error_for_status(response.status_code, response.headers, None,
                                             what=what)
            assert error is not None
            log.warning("onestop %s %s -> %s", method, path, response.status_code)
            raise error
        return response


def _body(response: httpx.Response) -> object:
    """Parsed JSON when the reply is JSON, else the text (both only read by mapping)."""
    try:
        return response.json()
    except ValueError:
        return response.text


def _json(response: httpx.Response, what: str) -> object:
    try:
        return response.json()
    except ValueError:
        # A proxy page or a truncated reply: likely to pass on a later try.
        raise TransientError(f"phản hồi của hệ thống một cửa không phải JSON khi {what}") from None
