"""The quota limiter in Redis: every worker process of the deployment shares one bucket per
post-office account (evenly spaced slots, see worker/domain/quota.py).

Each reservation is one Lua script, so it is atomic across processes and machines, and it
reads the Redis server's clock (TIME), never a worker's: two machines with skewed clocks
still space their requests correctly. Counters for /metrics live in the same hash, since
the web process that serves /metrics is not the one sending the requests.

Keys: `<prefix>{<account>}` (hash: last_slot, blocked_until, requests, waits,
waited_seconds, throttled), `<prefix>{<account>}:recent` (list: the account's last granted
slots, newest first, as many as its quota) and `<prefix>accounts` (set of account keys).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import redis

from worker.domain.errors import TransientError
from worker.domain.quota import LOOK_AHEAD_S, MAX_HOLD_SLEEP_S, Budget, Reservation, take_slot
from worker.ports.quota import AccountUsage

if TYPE_CHECKING:
    from worker.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "handoff:quota:"

# KEYS: the account's hash, the accounts set, the account's recent slots.
# ARGV: interval, longest acceptable wait, account, "1" for a new request, the floor's
# look-ahead ('' when this process knew no state), longest hold slept, window, the slots
# kept (the quota's count; 0 above MAX_KEPT: evenly spaced), catch-up spacing.
# Mirrors worker.domain.quota.hold_left and next_slot; answers {granted, wait, slot, epoch,
# held}. A new state starts its recent slots afresh (evenly spaced until it knows `count`),
# or, replacing a lost one, one window after the floor (one interval after it when no
# slots are kept: evenly spaced, it never catches up).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'last_slot', 'blocked_until', 'epoch')
local epoch = state[3] or string.format('%.6f', now)
-- no state (the first request ever, or Redis lost it): a request granted by the lost
-- state may go up to LOOK_AHEAD from now, so start one interval after that
local floor = ARGV[5] == '' and '-1e18' or tostring(now + tonumber(ARGV[5]))
if not state[1] then
  redis.call('DEL', KEYS[3])
  -- a state this process knew is gone: up to `count` slots it granted may lie anywhere up
  -- to the floor, so the new one starts as if they all did (the window passes first)
  if ARGV[5] ~= '' then
    for _ = 1, tonumber(ARGV[8]) do redis.call('RPUSH', KEYS[3], floor) end
  end
end
local last = tonumber(state[1] or floor)
local blocked = tonumber(state[2] or '0')
if blocked - now > tonumber(ARGV[6]) then
  return {0, string.format('%.6f', blocked - now), string.format('%.6f', blocked), epoch, 1}
end
local count = tonumber(ARGV[8])
local known = math.min(redis.call('LLEN', KEYS[3]), count)
local slot
if count > 0 and known >= count then
  local oldest = tonumber(redis.call('LINDEX', KEYS[3], count - 1))
  slot = math.max(now, blocked, last + tonumber(ARGV[9]), oldest + tonumber(ARGV[7]))
else
  slot = math.max(now, blocked, last + tonumber(ARGV[1]))
  if known > 0 then
    local oldest = tonumber(redis.call('LINDEX', KEYS[3], known - 1))
    slot = math.max(slot, oldest + known * tonumber(ARGV[1]))
  end
end
local wait = slot - now
if wait > tonumber(ARGV[2]) then
  return {0, string.format('%.6f', wait), string.format('%.6f', slot), epoch, 0}
end
redis.call('HSET', KEYS[1], 'last_slot', string.format('%.6f', slot), 'epoch', epoch)
if count > 0 then
  redis.call('LPUSH', KEYS[3], string.format('%.6f', slot))
  redis.call('LTRIM', KEYS[3], 0, count - 1)
end
redis.call('SADD', KEYS[2], ARGV[3])
if ARGV[4] == '1' then
  redis.call('HINCRBY', KEYS[1], 'requests', 1)
  if wait > 0 then redis.call('HINCRBY', KEYS[1], 'waits', 1) end
end
if wait > 0 then
  redis.call('HINCRBYFLOAT', KEYS[1], 'waited_seconds', string.format('%.6f', wait))
end
return {1, string.format('%.6f', wait), string.format('%.6f', slot), epoch, 0}
"""

# KEYS: the account's hash, the accounts set. ARGV: retry_after seconds, account.
# The hold only ever grows: a shorter Retry-After never cuts a longer one short.
_THROTTLE = """
local t = redis.call('TIME')
local hold = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
if hold > tonumber(redis.call('HGET', KEYS[1], 'blocked_until') or '0') then
  redis.call('HSET', KEYS[1], 'blocked_until', string.format('%.6f', hold))
end
redis.call('HINCRBY', KEYS[1], 'throttled', 1)
redis.call('SADD', KEYS[2], ARGV[2])
return string.format('%.6f', hold)
"""


class RedisBucket:
    """RateLimiter over Redis (production, when the broker is Redis)."""

    def __init__(self, client: redis.Redis, *, max_wait: float, margin: float,
                 max_hold: float = MAX_HOLD_SLEEP_S, prefix: str = PREFIX,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._redis = client
        self.max_wait = max_wait
        self.margin = margin
        self.max_hold = max_hold
        self.prefix = prefix
        self._sleep = sleep
        # Per thread (the rows of a batch run on threads, worker/service/jobs/runner.py):
        # account -> the state that granted this thread's last slot. Shared by the threads,
        # one thread's new slot after a flush made another's older slot look granted by the
        # new state, which never knew it (chaos scenario 14: 4 requests in a second at a
        # quota of 2). `_known`: the accounts any thread of this process saw a state of.
        self._local = threading.local()
        self._known: set[str] = set()
        self._reserve_script = client.register_script(_RESERVE)
        self._throttle_script = client.register_script(_THROTTLE)

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisBucket:
        client = redis.Redis.from_url(settings.broker_url, socket_timeout=5,
                                      socket_connect_timeout=5)
        return cls(client, max_wait=settings.carrier_quota_max_wait_seconds,
                   margin=settings.carrier_quota_margin_seconds)

    def __repr__(self) -> str:  # the URL may carry a password: never shown
        return f"RedisBucket(prefix={self.prefix!r})"

    # --- RateLimiter ---------------------------------------------------------------------
    def acquire(self, account: str, per_second: float, *, max_wait: float | None = None
                ) -> float:
        most = self.max_wait if max_wait is None else min(max_wait, self.max_wait)
        return take_slot(account, Budget.of(per_second, self.margin), most,
                         reserve=self._reserve, blocked_until=self._blocked_until,
                         sleep=self._sleep, clock=time.monotonic, max_hold=self.max_hold)

    def throttled(self, account: str, retry_after: float) -> None:
        """Best effort: with Redis down the 429 still becomes a retry (the adapter raises it);
        only the other processes miss the hint."""
        try:
            self._throttle_script(keys=[self._key(account), self._accounts],
                                  args=[f"{max(0.0, retry_after):.6f}", account])
        except redis.RedisError as exc:
            log.warning("quota: could not record a 429 of %s (%s)", account, type(exc).__name__)

    def usage(self) -> list[AccountUsage]:
        accounts = sorted(_text(a) for a in self._redis.smembers(self._accounts))
        pipe = self._redis.pipeline(transaction=False)
        for account in accounts:
            pipe.hgetall(self._key(account))
        out = []
        for account, state in zip(accounts, pipe.execute(), strict=True):
            fields = {_text(k): _text(v) for k, v in state.items()}
            out.append(AccountUsage(
                account=account, requests=int(fields.get("requests", 0)),
                waited_seconds=float(fields.get("waited_seconds", 0.0)),
                waits=int(fields.get("waits", 0)), throttled=int(fields.get("throttled", 0))))
        return out

    def close(self) -> None:
        self._redis.close()

    # --- Plumbing --------------------------------------------------------------------------
    def _reserve(self, account: str, budget: Budget, new: bool, max_wait: float,
                 max_hold: float) -> Reservation:
        try:
            granted, wait, slot, epoch, held = self._reserve_script(
                keys=[self._key(account), self._accounts, f"{self._key(account)}:recent"],
                args=[f"{budget.interval:.6f}", f"{max_wait:.6f}", account,
                      "1" if new else "0",
                      # a state this process knew is gone: floor the new one
                      f"{LOOK_AHEAD_S:.6f}" if account in self._known else "",
                      f"{max_hold:.6f}", f"{budget.window:.6f}", str(budget.kept),
                      f"{budget.catch_up:.6f}"])
            seen_at = time.monotonic()  # the server read its clock just before answering
            self._epochs()[account] = _text(epoch)
            self._known.add(account)
        except redis.RedisError as exc:
            raise TransientError(
                f"không đọc được hạn mức gọi bưu điện trong Redis ({type(exc).__name__})"
            ) from None
        return Reservation(bool(int(granted)), float(wait), float(slot), seen_at,
                           held=bool(int(held)))

    def _blocked_until(self, account: str) -> float:
        try:
            epoch, value = self._redis.hmget(self._key(account), "epoch", "blocked_until")
        except redis.RedisError:
            return 0.0  # the slot was granted; a missed hold costs at most one more 429
        if epoch is None or _text(epoch) != self._epochs().get(account):
            # the state that granted our slot is gone (flushed): it no longer knows our slot
            return math.inf  # so the request asks again, after the others' new slots
        return float(_text(value)) if value else 0.0

    def _epochs(self) -> dict[str, str]:
        """This thread's: account -> the state that granted its last slot."""
        epochs: dict[str, str] | None = getattr(self._local, "epochs", None)
        if epochs is None:
            epochs = self._local.epochs = {}
        return epochs

    def _key(self, account: str) -> str:
        return f"{self.prefix}{{{account}}}"

    @property
    def _accounts(self) -> str:
        return f"{self.prefix}accounts"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
