"""What both doors to the post office share: quota, token cache, 401 refresh, short retries.

An adapter (route A `ngsp.py`, route B `lgsp.py`) says only where each call goes and how
the token rides along; the order body, the reply parsers and the HTTP classification are
the same wire (wire.py) on both routes.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from tenacity.wait import wait_base

from integrations.carriers.vnpost import feed, wire
from integrations.carriers.vnpost.tokens.cache import TokenCache, cache_name, fingerprint
from integrations.http_client import new_client
from integrations.http_errors import retry_after
from worker.domain.errors import PermanentError, TransientError
from worker.domain.model import CarrierAccount, CarrierOrder, FeedPage, PostOutcome
from worker.domain.quota import MAX_HOLD_SLEEP_S
from worker.ports.carrier import CarrierPort
from worker.ports.quota import NoLimit, RateLimiter

log = logging.getLogger(__name__)

# Short bursts only: 3 attempts, about 0.5 s then 1 s (+ jitter), well under 5 s in total.
DEFAULT_WAIT = wait_exponential(multiplier=0.5, max=2.0) + wait_random(0, 0.5)
DEFAULT_ATTEMPTS = 3
# A 429 without a (readable) Retry-After still holds the account this long.
DEFAULT_THROTTLE_S = 1.0
# The longest a 429 (or a 5xx's Retry-After) may hold an account. The hold lands in the
# shared quota store, so every process obeys it: a carrier bug answering
# "Retry-After: 86400000" would stop the account for about 1000 days. The post office's
# real holds are seconds; ten minutes is already long, and the next 429 after it holds the
# account again if the carrier still means it.
MAX_THROTTLE_S = 600.0
# The longest a request sent again after a short 429 hold (`_send`) waits for its quota
# slot once the hold is over: past it, the row goes back to the ledger as any 429's does.
# A call's longest grows by the hold (at most a second), this wait and a second request's
# timeout, not by a second quota wait of up to HANDOFF_CARRIER_QUOTA_MAX_WAIT_SECONDS.
RESEND_WAIT_S = 2.0
TOKEN_FORM = {"grant_type": "client_credentials"}  # section 1, on both routes


@dataclass(frozen=True)
class Target:
    """Where one call goes: URL, query parameters, and a name for the logs."""

    url: str
    params: dict[str, str] = field(default_factory=dict)
    label: str = ""


def public_url(url: str) -> str:
    """The URL without user info or query: what a repr or a log may show."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "<invalid url>"
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))


class CarrierGateway(CarrierPort):
    """CarrierPort over one post-office account. Raises only TransientError or
    PermanentError. ``account`` is public: the runtime rebuilds the adapter when it changes.

    Before every HTTP request (token requests too) the account's share of the quota is
    taken from `limiter`; a 429, or a 5xx with Retry-After (the post office down for a
    while), holds the account there for its Retry-After.
    """

    def __init__(
        self,
        account: CarrierAccount,
        token_url: str,
        *,
        limiter: RateLimiter | None = None,
        token_dir: Path | None = None,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        attempts: int = DEFAULT_ATTEMPTS,
        wait: wait_base | None = None,
    ) -> None:
        self.account = account
        self._token_url = token_url
        self._limiter: RateLimiter = limiter if limiter is not None else NoLimit()
        self._owns_http = http is None
        self._http = http if http is not None else new_client(timeout)
        self._timeout = timeout
        self._attempts = max(1, attempts)
        self._wait = wait if wait is not None else DEFAULT_WAIT
        self._tokens = TokenCache(token_dir, cache_name(account, token_url), clock=clock,
                                  credentials=fingerprint(account))
        self.token_requests = 0  # token requests this client sent (not the cache's hits)

    @property
    def customer_code(self) -> str:
        return self.account.customer_code

    def __repr__(self) -> str:  # never shows a key, secret or token
        return (f"{type(self).__name__}(account={self.account.key!r}, "
                f"token_url={public_url(self._token_url)!r})")

    # --- the door: where each call goes and how the token rides along (per route) -----------
    @abstractmethod
    def _post_target(self) -> Target: ...

    @abstractmethod
    def _tracking_target(self, params: dict[str, str]) -> Target: ...

    @abstractmethod
    def _cancel_target(self, params: dict[str, str]) -> Target: ...

    @abstractmethod
    def _auth_headers(self, token: str) -> dict[str, str]: ...

    # --- CarrierPort -----------------------------------------------------------------------
    def post_order(self, order: CarrierOrder) -> PostOutcome:
        body = wire.build_order_body(order, self.account.customer_code)
        status, reply = self._call("POST", self._post_target(), json=body)
        outcome = wire.parse_post_reply(status, reply)
        log.info("carrier order %s posted via %s (already existed: %s)",
                 order.order_number, self.account.key, outcome.already_existed)
        return outcome

    def cancel_order(self, order_number: str) -> str:
        params = wire.cancel_params(self.account.customer_code, order_number)
        _, reply = self._call("GET", self._cancel_target(params))
        message = wire.parse_cancel_reply(reply)
        log.info("carrier order %s cancelled via %s", order_number, self.account.key)
        return message

    def fetch_events(self, last_id: str | None, page_size: int = 1000) -> FeedPage:
        params = feed.tracking_params(last_id, page_size)
        _, reply = self._call("GET", self._tracking_target(params))
        return feed.parse_tracking_page(reply, last_id)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # --- Token -----------------------------------------------------------------------------
    def _get_token(self) -> str:
        """The cached token, or a new one; one request per expiry window, across threads and
        (with a token directory) across the processes of this machine."""
        return self._tokens.get(self._request_token)

    def _request_token(self) -> tuple[str, float]:
        self.token_requests += 1
        response = self._send(
            "POST",
            Target(self._token_url, label="token"),
            data=TOKEN_FORM,
            auth=httpx.BasicAuth(self.account.customer_key, self.account.secret_key),
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
        log.info("carrier token obtained for %s (expires in %.0f s)", self.account.key, expires)
        return token, expires

    # --- Plumbing ----------------------------------------------------------------------------
    def _call(self, method: str, target: Target, **kwargs: Any) -> tuple[int, dict]:
        """One API call: short retries of bursts around (token + 401 refresh + request)."""
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception_type(wire.BurstError),
            reraise=True,
            before_sleep=lambda rs: log.warning(
                "carrier %s %s failed (%s), attempt %d; retrying",
                method,
                target.label,
                rs.outcome.exception() if rs.outcome else "?",
                rs.attempt_number,
            ),
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._call_authorized(method, target, **kwargs)
        except wire.BurstError as exc:
            raise TransientError(f"{exc} (sau {self._attempts} lần thử)") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _call_authorized(self, method: str, target: Target, **kwargs: Any) -> tuple[int, dict]:
        for refreshed in (False, True):
            token = self._get_token()
            response = self._send(method, target, headers=self._auth_headers(token), **kwargs)
            if response.status_code != 401:
                self._raise_for(response)
                return response.status_code, self._json(response)
            self._tokens.drop(token)
            log.info("carrier answered 401 on %s (%s)", target.label,
                     "after refresh" if refreshed else "refreshing token")
        raise TransientError("bưu điện vẫn từ chối mã truy cập mới (HTTP 401)")

    def _send(self, method: str, target: Target, **kwargs: Any) -> httpx.Response:
        """One HTTP request, after its share of the account's quota; a 429 (or a 5xx with
        Retry-After) holds the account.

        A 429 whose hold is no longer than the limiter waits out by itself (MAX_HOLD_SLEEP_S:
        the post office's one-second window overrun by a request or two, jitter bunching
        requests the limiter spaced) is sent once more, after the hold (this thread sleeps
        it out, as the limiter makes every other request of the account wait for it, and
        then takes its slot as they do, if one comes within RESEND_WAIT_S). Before, the row
        went back to the ledger for its Retry-After plus up to 10 s of spread (meant for the rows
        of a long hold, worker/domain/rules.py) and its order was accepted long after the
        burst it came in (benchmark 1: two such rows made the 10,000 posts' last acceptance
        6 s late, 0.85 of the quota instead of 0.95). A longer hold, or a second 429, goes
        back to the ledger as before. A post sent again carries the same OrderNumber, so
        it never makes a second order (contract section 2), whatever the 429 meant."""
        response = self._send_once(method, target, **kwargs)
        hold = self._hold(response)
        if response.status_code == 429 and hold <= MAX_HOLD_SLEEP_S:
            log.info("carrier answered 429 on %s for %s: sent again after its %.1f s hold",
                     target.label, self.account.key, hold)
            time.sleep(hold)  # (the limiter would wait for it too; NoLimit would not)
            response = self._send_once(method, target, max_wait=RESEND_WAIT_S, **kwargs)
        return response

    @staticmethod
    def _hold(response: httpx.Response) -> float:
        """How long a 429 holds the account (seconds), as `_send_once` recorded it."""
        wait = retry_after(response.headers)
        return DEFAULT_THROTTLE_S if wait is None else min(wait, MAX_THROTTLE_S)

    def _send_once(self, method: str, target: Target, *, max_wait: float | None = None,
                   **kwargs: Any) -> httpx.Response:
        waited = self._limiter.acquire(self.account.key, self.account.quota_per_second,
                                       max_wait=max_wait)
        if waited > 0:
            log.debug("carrier quota of %s: waited %.3f s", self.account.key, waited)
        try:
            response = self._http.request(method, target.url, params=target.params or None,
                                          timeout=self._timeout, **kwargs)
        except httpx.TimeoutException as exc:
            raise wire.BurstError(f"bưu điện không trả lời kịp ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise wire.BurstError(f"lỗi kết nối tới bưu điện ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:  # anything else httpx may raise
            raise TransientError(f"lỗi gọi bưu điện ({type(exc).__name__})") from None
        wait = retry_after(response.headers)
        if wire.holds_account(response.status_code, wait):
            if wait is not None and wait > MAX_THROTTLE_S:
                log.warning("carrier asked %s to wait %.0f s (Retry-After); holding it %.0f s",
                            self.account.key, wait, MAX_THROTTLE_S)
            self._limiter.throttled(self.account.key, self._hold(response))
        return response

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        err = wire.classify_http(response.status_code, response.headers, response.text)
        if isinstance(err, TransientError) and (err.retry_after or 0.0) > MAX_THROTTLE_S:
            err.retry_after = MAX_THROTTLE_S  # as capped as the hold (see _send)
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
