"""Login tries counted in the database before any password is checked, shared by every web
process, so parallel guesses cannot slip past the limit and the limit cannot be multiplied.

Each try writes three rows (its username and address pair, its address, its username) and
commits them BEFORE counting: of N tries running at once, the one committed k-th sees at
least k rows, so no more than the limit ever reach the password check. A refused try is
then deleted (it checked nothing); a checked failure stays for its window. Three limits:
- pair: one username from one address, 5 per minute: a guesser, or a clerk who forgot;
- addr: one address across usernames, 20 per 5 minutes: spraying many names;
- user: one username from everywhere, 100 per 15 minutes: a guess spread over addresses.
  One address can never reach it alone (its own limit allows 60 per 15 minutes), so a
  stranger locking `ops` for himself does not lock it for staff elsewhere.
The table stays small: rows older than the longest window are deleted at every insert,
and beyond MAX_ROWS the oldest go.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from worker.db.engine import Database
from worker.db.models import LoginAttempt
from worker.domain.text import sanitize_text


@dataclass(frozen=True)
class Limit:
    scope: str  # pair, addr, user
    max_failures: int
    window: timedelta


LIMITS = (Limit("pair", 5, timedelta(minutes=1)), Limit("addr", 20, timedelta(minutes=5)),
          Limit("user", 100, timedelta(minutes=15)))
MAX_ROWS = 100_000


@dataclass(frozen=True)
class Admission:
    """One login try: may its password be checked, or how long must it wait."""

    ids: tuple[int, ...]
    wait_seconds: float

    @property
    def allowed(self) -> bool:
        return self.wait_seconds <= 0


def client_key(host: str | None) -> str:
    """The client address as counted: IPv6 by its /64 (one household or server holds a
    whole /64), IPv4-mapped IPv6 as IPv4; anything else as given, cut short."""
    if not host:
        return "unknown"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return sanitize_text(host, 64) or "unknown"
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


def keys(username: str, client: str) -> dict[str, str]:
    # any text a form can carry becomes a safe key: no NUL or lone surrogate reaches the DB
    name = sanitize_text(username, 80).casefold()[:80]
    return {"pair": f"pair:{name}|{client}"[:200], "addr": f"addr:{client}"[:200],
            "user": f"user:{name}"[:200]}


def admit(db: Database, username: str, client: str, *, now: datetime | None = None,
          limits: tuple[Limit, ...] = LIMITS, max_rows: int = MAX_ROWS) -> Admission:
    """Record this try, then count; a try over any limit is refused unchecked."""
    now = now or datetime.now(UTC)
    wanted = keys(username, client)
    with db.unit_of_work() as s:  # committed before counting: parallel tries see each other
        _prune(s, now, limits, max_rows)
        rows = [LoginAttempt(key=wanted[limit.scope], at=now, succeeded=False)
                for limit in limits]
        s.add_all(rows)
        s.flush()
        ids = tuple(row.id for row in rows)
    with db.unit_of_work() as s:
        wait = max((_wait(s, limit, wanted[limit.scope], now, ids) for limit in limits),
                   default=0.0)
        if wait > 0:  # nothing was checked: this try is no failure of anyone's
            s.execute(delete(LoginAttempt).where(LoginAttempt.id.in_(ids)))
    return Admission(ids, wait)


def succeeded(db: Database, admission: Admission, username: str, client: str) -> None:
    """The password was right: this try is no failure, and the pair's failures are forgiven
    (the address's and the username's are not: someone else may be guessing there)."""
    with db.unit_of_work() as s:
        s.execute(update(LoginAttempt).where(LoginAttempt.id.in_(admission.ids))
                  .values(succeeded=True))
        s.execute(delete(LoginAttempt).where(LoginAttempt.key == keys(username, client)["pair"],
                                             LoginAttempt.succeeded.is_(False)))


def _wait(s: Session, limit: Limit, key: str, now: datetime, own: tuple[int, ...]) -> float:
    """Seconds until a try on `key` would be within `limit`; 0 when this one already is."""
    failures = (LoginAttempt.key == key, LoginAttempt.at > now - limit.window,
                LoginAttempt.succeeded.is_(False))
    count = s.scalar(select(func.count()).select_from(LoginAttempt).where(*failures)) or 0
    if count <= limit.max_failures:
        return 0.0
    # the next try is allowed once all but max_failures - 1 of the others have aged out
    others = count - 1
    oldest_to_go = s.scalar(select(LoginAttempt.at).where(*failures, LoginAttempt.id.not_in(own))
                            .order_by(LoginAttempt.at, LoginAttempt.id)
                            .offset(max(others - limit.max_failures, 0)).limit(1))
    if oldest_to_go is None:  # others refused meanwhile: their rows are gone
        return 1.0
    return max((oldest_to_go + limit.window - now).total_seconds(), 1.0)


def _prune(s: Session, now: datetime, limits: tuple[Limit, ...], max_rows: int) -> None:
    longest = max(limit.window for limit in limits)
    s.execute(delete(LoginAttempt).where(LoginAttempt.at < now - longest))
    # ids are unique and new ones exceed the current largest: whatever is left at or below
    # `oldest_kept` goes, so with this try's rows the table holds at most max_rows
    oldest_kept = (s.scalar(select(func.max(LoginAttempt.id))) or 0) - max_rows + len(limits)
    if oldest_kept > 0:
        s.execute(delete(LoginAttempt).where(LoginAttempt.id <= oldest_kept))
