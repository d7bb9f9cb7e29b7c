"""Wrong carrier-push signatures counted per agency code and client address, and one
warning line a minute per refused address instead of one per request.

The counting is login_throttle's (rows written before the signature is checked, so parallel
tries cannot slip past a limit; shared by every web process) under its own "push:" door:
logins and pushes never count each other's failures, and each door keeps its own row
budget. The carrier sends every agency's pushes from the same few addresses and re-sends
each push until it is answered success, so one agency's failures (a push secret just
changed, stored credentials that do not open, a URL left for a removed agency) come back
again and again; they must never hold up its pushes for another agency. The limits, each
counted over 15 minutes:
- pair: one agency code from one address, `push_throttle_pair` wrong signatures: a guesser,
  or the carrier still signing one agency's pushes with an old secret. Only that agency's
  pushes from that address are refused; it cannot spill over, as refused tries leave no row;
- addr: one address whatever the code, `push_throttle_address`, far higher: a stranger
  spraying codes. Each failing code adds at most `pair` failures to it, so the carrier's
  pushes for a good agency can be held up only once at least address / pair codes (50 by
  default) fail from its address within the window;
- user: one agency code from everywhere, `push_throttle_agency`. Soft, as the logins'
  username limit: past it a client is still let through while its own network (/24, /48)
  has fewer than `push_throttle_network` failures for that agency. A hard agency limit
  would let any stranger stop an agency's pushes; this way a guesser spread over addresses
  gets a few more tries per network, and the carrier, whose network fails nothing for that
  agency, is never held up by others' failures.
A right signature forgives the failures of its agency from its address and its network
(not its address's for other agencies: those are not its to forgive), and leaves no row
behind: only failures are kept. Unknown agency codes are counted alike, so the answers
tell nothing about who exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import delete, or_

from worker.db.engine import Database
from worker.db.models import LoginAttempt
from worker.service.access import login_throttle
from worker.service.access.login_throttle import Admission, Limit
from worker.settings import Settings

DOOR = "push:"
WINDOW = login_throttle.LONGEST
MAX_ROWS = login_throttle.MAX_ROWS  # this door's own budget of rows


def limits(settings: Settings) -> tuple[Limit, ...]:
    return (Limit("pair", settings.push_throttle_pair, WINDOW),
            Limit("addr", settings.push_throttle_address, WINDOW),
            Limit("user", settings.push_throttle_agency, WINDOW,
                  unless=Limit("net", settings.push_throttle_network, WINDOW)))


def admit(db: Database, settings: Settings, agency: str, client: str) -> Admission:
    """Record this push as a try of `agency` from `client`, then count: refused when over."""
    return login_throttle.admit(db, agency, client, limits=limits(settings), door=DOOR,
                                max_rows=MAX_ROWS)


def verified(db: Database, admission: Admission, agency: str, client: str) -> None:
    """The signature was right: this try's rows go (login_throttle.succeeded would keep
    them, marked, for 15 minutes: at the carrier's rate every count would read thousands
    of rows that count for nothing), and the agency's failures from its address and its
    network are forgiven."""
    wanted = login_throttle.keys(agency, client, DOOR)
    with db.unit_of_work() as s:
        s.execute(delete(LoginAttempt).where(
            or_(LoginAttempt.id.in_(admission.ids),
                LoginAttempt.key.in_([wanted["pair"], wanted["net"]])
                & LoginAttempt.succeeded.is_(False))))


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
