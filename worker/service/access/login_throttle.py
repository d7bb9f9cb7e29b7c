"""Login tries counted in the database before any password is checked, shared by every web
process, so parallel guesses cannot slip past the limit and the limit cannot be multiplied.

Each try writes four rows (its username and address pair, its address, its username, its
username and network) and commits them BEFORE counting: of N tries running at once, the
one committed k-th sees at least k rows, so no more than the limit ever reach the password
check. A refused try is then deleted (it checked nothing); a checked failure stays for its
window. The limits:
- pair: one username from one address, 5 per minute: a guesser, or a clerk who forgot;
- addr: one address across usernames, 20 per 5 minutes: spraying many names;
- user: one username from everywhere, 100 per 15 minutes: a guess spread over addresses.
  A hard username-wide limit would be a lockout tool (a few addresses could keep `ops`
  locked for all staff), so it is soft: over it, a try is still admitted while the
  username has fewer than 3 failures from the try's network (/24 for IPv4, /48 for IPv6)
  in 15 minutes. Staff at a clean network log in while an attacker sprays; each attacking
  network gets at most 3 more guesses per 15 minutes, however many addresses it holds.
  One address can never reach the username limit alone (its own limit allows 60 per 15
  minutes).
A right password forgives the failures of its pair and of its username from its network
(not the address's or the username's from elsewhere: someone else may be guessing there).
Clients sharing one address (behind a proxy not trusted by FORWARDED_ALLOW_IPS) share its
limits: nothing here can tell them apart, so the web process says so once in its log.
Another door counts its own failures here under its own `door` prefix (the carrier push
hook: worker/service/access/push_throttle.py), so logins and that door never count each other's.
The table stays small: rows older than LONGEST (no door counts further back) are deleted at
every insert, and each door keeps at most its own `max_rows`, its oldest going beyond that:
a flood at one door never deletes another door's counts (a locked login stays locked).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session

from worker.db.engine import Database
from worker.db.models import LoginAttempt
from worker.domain.text import sanitize_text


@dataclass(frozen=True)
class Limit:
    scope: str  # pair, addr, user, net
    max_failures: int
    window: timedelta
    # a try over this limit is still admitted while it is within `unless`
    unless: Limit | None = None

    @property
    def chain(self) -> tuple[Limit, ...]:
        """This limit and those it yields to: each counts a row of every try."""
        return (self, *(self.unless.chain if self.unless else ()))


QUARTER = timedelta(minutes=15)
LIMITS = (Limit("pair", 5, timedelta(minutes=1)), Limit("addr", 20, timedelta(minutes=5)),
          Limit("user", 100, QUARTER, unless=Limit("net", 3, QUARTER)))
LONGEST = QUARTER  # no door counts further back: older rows go at every insert
MAX_ROWS = 100_000  # per door
SCOPES = ("pair", "addr", "user", "net")
# A door's rows are counted by walking them (about 20 ms for 100,000 on PostgreSQL): only
# when the table could be over a budget, and then at most once a second per door and
# process, so a flood does not pay it at every try (a door may outgrow its budget by what
# one second brings meanwhile).
BUDGET_EVERY = timedelta(seconds=1)
_budget_checked: dict[tuple[str, str], datetime] = {}  # (database, door) -> last walked


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


def network_of(client: str) -> str:
    """The network a client key belongs to: IPv4 by its /24, IPv6 by its /48 (what one
    customer of a provider usually holds); anything else is its own network."""
    try:
        net = ipaddress.ip_network(client, strict=False)
    except ValueError:
        return client
    prefix = 24 if net.version == 4 else 48
    return str(net.supernet(new_prefix=prefix)) if net.prefixlen > prefix else str(net)


def keys(username: str, client: str, door: str = "") -> dict[str, str]:
    # any text a form can carry becomes a safe key: no NUL or lone surrogate reaches the DB
    name = sanitize_text(username, 80).casefold()[:80]
    found = {"pair": f"{name}|{client}", "addr": client, "user": name,
             "net": f"{name}|{network_of(client)}"}
    return {scope: f"{door}{scope}:{found[scope]}"[:200] for scope in SCOPES}


def _of_door(door: str) -> ColumnElement[bool]:
    """The rows of one door: its keys are `<door><scope>:...` (keys())."""
    return or_(*(LoginAttempt.key.startswith(f"{door}{scope}:", autoescape=True)
                 for scope in SCOPES))


def admit(db: Database, username: str, client: str, *, now: datetime | None = None,
          limits: tuple[Limit, ...] = LIMITS, max_rows: int = MAX_ROWS,
          door: str = "") -> Admission:
    """Record this try, then count; a try over any limit is refused unchecked. The door
    keeps at most `max_rows` rows, whatever the other doors hold."""
    if any(each.window > LONGEST for limit in limits for each in limit.chain):
        raise ValueError(f"a throttle window is longer than {LONGEST}: its rows would go")
    now = now or datetime.now(UTC)
    wanted = keys(username, client, door)
    scopes = [each.scope for limit in limits for each in limit.chain]
    with db.unit_of_work() as s:  # committed before counting: parallel tries see each other
        _prune(s, now, db.url, door, max_rows, len(scopes))
        rows = [LoginAttempt(key=wanted[scope], at=now, succeeded=False) for scope in scopes]
        s.add_all(rows)
        s.flush()
        ids = tuple(row.id for row in rows)
    with db.unit_of_work() as s:
        wait = max((_wait(s, limit, wanted, now, ids) for limit in limits), default=0.0)
        if wait > 0:  # nothing was checked: this try is no failure of anyone's
            s.execute(delete(LoginAttempt).where(LoginAttempt.id.in_(ids)))
    return Admission(ids, wait)


def succeeded(db: Database, admission: Admission, username: str, client: str,
              door: str = "") -> None:
    """The password was right: this try is no failure, and the failures of its pair and of
    its username from its network are forgiven (the address's and the username's from
    elsewhere are not: someone else may be guessing there)."""
    wanted = keys(username, client, door)
    with db.unit_of_work() as s:
        s.execute(update(LoginAttempt).where(LoginAttempt.id.in_(admission.ids))
                  .values(succeeded=True))
        s.execute(delete(LoginAttempt).where(LoginAttempt.key.in_([wanted["pair"],
                                                                   wanted["net"]]),
                                             LoginAttempt.succeeded.is_(False)))


def _wait(s: Session, limit: Limit, wanted: dict[str, str], now: datetime,
          own: tuple[int, ...]) -> float:
    """Seconds until a try would be within `limit` (or its `unless`); 0 when it already is."""
    wait = _wait_on(s, limit, wanted[limit.scope], now, own)
    if wait > 0 and limit.unless is not None:
        wait = min(wait, _wait(s, limit.unless, wanted, now, own))
    return wait


def _wait_on(s: Session, limit: Limit, key: str, now: datetime, own: tuple[int, ...]
             ) -> float:
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


def _prune(s: Session, now: datetime, db_url: str, door: str, max_rows: int,
           rows_per_try: int) -> None:
    """Rows older than LONGEST go; then, past its budget, the door's own oldest rows."""
    s.execute(delete(LoginAttempt).where(LoginAttempt.at < now - LONGEST))
    # one statement, two subqueries: each reads one end of the index (SQLite would scan
    # for max and min in one query)
    newest, oldest = s.execute(select(select(func.max(LoginAttempt.id)).scalar_subquery(),
                                      select(func.min(LoginAttempt.id)).scalar_subquery())).one()
    if newest is None or oldest is None or newest - oldest + 1 + rows_per_try <= max_rows:
        return  # ids are unique and new ones exceed `newest`: no door can be over
    last = _budget_checked.get((db_url, door))
    if last is not None and abs(now - last) < BUDGET_EVERY:
        return
    _budget_checked[db_url, door] = now
    mine = _of_door(door)
    # the newest max_rows - rows_per_try of the door stay: with this try's, max_rows
    cut = s.scalar(select(LoginAttempt.id).where(mine).order_by(LoginAttempt.id.desc())
                   .offset(max(max_rows - rows_per_try, 0)).limit(1))
    if cut is not None:
        s.execute(delete(LoginAttempt).where(mine, LoginAttempt.id <= cut))
