"""Wrong carrier-push signatures counted per agency code and per client address, and one
warning line a minute per refused address instead of one per request.

The counting is login_throttle's (rows written before the signature is checked, so parallel
tries cannot slip past a limit; shared by every web process) under its own "push:" door:
logins and pushes never count each other's failures. The limits (settings, 15 minutes):
- addr: one client address, `push_throttle_address` wrong signatures;
- user: one agency code from everywhere, `push_throttle_agency`. Soft, as the logins'
  username limit: past it a client is still let through while its own network (/24, /48)
  has fewer than `push_throttle_network` failures for that agency. A hard agency limit
  would let any stranger stop an agency's pushes; this way a guesser spread over addresses
  gets a few more tries per network, and the carrier, whose network fails nothing, is
  never held up by others' failures. A right signature forgives its network's failures
  for that agency (not its address's: those may be someone else's behind the same NAT),
  and leaves no row behind: only failures are kept.
Unknown agency codes are counted alike, so the answers tell nothing about who exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import and_, delete, or_

from worker.db.engine import Database
from worker.db.models import LoginAttempt
from worker.service import login_throttle
from worker.service.login_throttle import Admission, Limit
from worker.settings import Settings

DOOR = "push:"
# login_throttle.admit deletes rows older than the longest window it is given, the logins'
# too: every push window is the logins' longest, so neither door cuts the other's short
WINDOW = max(each.window for limit in login_throttle.LIMITS for each in limit.chain)


def limits(settings: Settings) -> tuple[Limit, ...]:
    return (Limit("addr", settings.push_throttle_address, WINDOW),
            Limit("user", settings.push_throttle_agency, WINDOW,
                  unless=Limit("net", settings.push_throttle_network, WINDOW)))


def admit(db: Database, settings: Settings, agency: str, client: str) -> Admission:
    """Record this push as a try of `agency` from `client`, then count: refused when over."""
    return login_throttle.admit(db, agency, client, limits=limits(settings), door=DOOR)


def verified(db: Database, admission: Admission, agency: str, client: str) -> None:
    """The signature was right: this try's rows go (login_throttle.succeeded would keep
    them, marked, for 15 minutes: at the carrier's rate every count would read thousands
    of rows that count for nothing), and its network's failures for the agency are
    forgiven (not its address's: another client may be failing behind the same NAT)."""
    net = login_throttle.keys(agency, client, DOOR)["net"]
    with db.unit_of_work() as s:
        s.execute(delete(LoginAttempt).where(
            or_(LoginAttempt.id.in_(admission.ids),
                and_(LoginAttempt.key == net, LoginAttempt.succeeded.is_(False)))))


class EveryMinute:
    """Whether a warning about a key is due: at its first time, then at most once per
    `every` seconds, with how many were held back meanwhile. One per process; keys not
    seen for `every` seconds are forgotten, so a spray of keys cannot grow it for good."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000) -> None:
        self.every, self.clock, self.max_keys = every, clock, max_keys
        self._last: dict[str, tuple[float, int]] = {}  # key -> (told at, held back since)

    def due(self, key: str) -> int | None:
        """None: not due (counted as held back); else the number held back before it."""
        now = self.clock()
        told = self._last.get(key)
        if told is not None and now - told[0] < self.every:
            self._last[key] = (told[0], told[1] + 1)
            return None
        if len(self._last) >= self.max_keys:
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self.every}
        self._last[key] = (now, 0)
        return told[1] if told is not None else 0
