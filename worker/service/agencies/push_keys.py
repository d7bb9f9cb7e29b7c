"""The key each push to POST /hooks/carrier/{agency} is checked with: an agency's push
secret opened once per stored value and kept ready, a stand-in key for every other code.

Opening the stored credentials (Fernet) costs a tenth of a millisecond or more: done on
every push, it made a wrong signature for an agency with its own account answer slower
than one for a code that names nobody, and timing told strangers which agencies exist.
Now both paths do the same work: one look-up of the code, then one HMAC with a key made
ready beforehand (worker/domain/signatures.PushKey), real or stand-in. What is kept is
tied to the agency's row as read on each push: when its credentials (or its customer code,
route, quota) change, by this process or another (`handoff agency update`, rotate-key),
the next push sees another row and opens the new value once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, literal, select
from sqlalchemy.orm import Session

from worker.db.models import Agency
from worker.domain.model import CarrierAccount
from worker.domain.signatures import PushKey
from worker.service.agencies import account_of_row
from worker.service.agencies.vault import VaultError
from worker.settings import Settings

# what an agency's account is made of (agencies.account_of_row): a change to any is seen
_STAMPED = (Agency.code, Agency.credentials, Agency.customer_code, Agency.route,
            Agency.quota_per_second)


@dataclass(frozen=True)
class PushCheck:
    """How to check one agency code's pushes. `account` None: refuse whatever the
    signature (no such agency, no push secret, or `unreadable` credentials)."""

    key: PushKey = field(repr=False)
    account: CarrierAccount | None
    unreadable: bool = False


class PushKeys:
    """The ready keys of one web process (thread-safe enough: two threads that miss at
    once both open the value and store the same thing)."""

    def __init__(self) -> None:
        # same kind of value as a real secret; nobody knows it, so nothing verifies
        self._stand_in = PushCheck(PushKey(secrets.token_urlsafe(36)), None)
        self._ready: dict[str, tuple[tuple[object, ...], PushCheck]] = {}
        self._nobody = ((None,) * len(_STAMPED), self._stand_in)  # what no row reads as

    def check_for(self, session: Session, settings: Settings, code: str | None) -> PushCheck:
        """The check for `code` (None: a code that cannot name an agency, not looked up).
        Known or not, the look-up returns one row of plain columns (NULLs for a code that
        names nobody) and it is compared with what is kept; the ORM object, which only a
        known code would cost, is loaded only when the stored value changed."""
        if code is None:
            return self._stand_in
        asked = select(literal(code, String(64)).label("code")).subquery()
        found: tuple[Any, ...] = tuple(session.execute(
            select(*_STAMPED).select_from(asked)
            .outerjoin(Agency, Agency.code == asked.c.code)).one())
        ready = self._ready.get(found[0] or "", self._nobody)
        if ready[0] == found:
            return ready[1]
        row = session.get_one(Agency, found[0])
        check = self._open(settings, row)
        self._ready[row.code] = (tuple(getattr(row, c.key) for c in _STAMPED), check)
        return check

    def _open(self, settings: Settings, row: Agency) -> PushCheck:
        try:
            account = account_of_row(settings, row)
        except VaultError:
            return PushCheck(self._stand_in.key, None, unreadable=True)
        if not account.push_secret:
            return self._stand_in
        return PushCheck(PushKey(account.push_secret), account)
