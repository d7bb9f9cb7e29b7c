"""A wrong HANDOFF_CREDENTIALS_KEY is refused before it seals anything: the key canary.

The database records, as deployment marks, the fingerprint (vault.fingerprints) of every key
that sealed a stored agency account. A change that seals (`handoff agency add|update|import`,
the agencies page) or re-seals (`rotate-key`) first calls `require_key`. When every recorded
key is in the list given, that is one query and no decryption. Otherwise (no marks yet: a
database from before them; or a recorded key missing from the list) every sealed row is
tried once: when none opens with the list, the key is wrong (WrongKey) and nothing is
written; when some do, the marks become the keys that opened them (rows that open with no
key of the list stay held, as before, until their credentials are given again). A fresh
database with no sealed row adopts the first key it seals with.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from worker.db.models import Agency, DeploymentMark, utcnow
from worker.service.agencies.vault import (
    Credentials,
    VaultError,
    WrongKey,
    fingerprints,
    key_index,
    open_sealed,
)
from worker.settings import Settings

PREFIX = "sealing-key:"  # + a key's fingerprint (24 hex): within the mark's 40 characters
# session.info: the keys recorded as this transaction sees them (its own pending marks
# included: an agency row being built is not flushed, so queries cannot see them)
_RECORDED = "key_guard.recorded"
_CHECKED = "key_guard.checked"  # session.info: the key lists already judged


def _recorded(session: Session) -> set[str]:
    if _RECORDED not in session.info:
        names = session.scalars(select(DeploymentMark.name)
                                .where(DeploymentMark.name.startswith(PREFIX)))
        session.info[_RECORDED] = {name.removeprefix(PREFIX) for name in names}
    found: set[str] = session.info[_RECORDED]
    return found


def _set_marks(session: Session, keep: set[str]) -> None:
    """The recorded keys become exactly `keep`."""
    recorded = _recorded(session)
    gone = [PREFIX + fp for fp in recorded - keep]
    if gone:
        session.execute(delete(DeploymentMark).where(DeploymentMark.name.in_(gone)))
    for fp in sorted(keep - recorded):
        session.add(DeploymentMark(name=PREFIX + fp, at=utcnow()))
    session.info[_RECORDED] = set(keep)


def require_key(session: Session, settings: Settings) -> None:
    """WrongKey when HANDOFF_CREDENTIALS_KEY opens none of the accounts stored (see above)."""
    fps = fingerprints(settings)
    checked: set[tuple[str, ...]] = session.info.setdefault(_CHECKED, set())
    if tuple(fps) in checked:  # an import saves many agencies in one transaction
        return
    recorded = _recorded(session)
    if not recorded or not recorded <= set(fps):
        used: set[str] = set()
        stored = 0
        for token in session.scalars(select(Agency.credentials)
                                     .where(Agency.credentials.is_not(None))):
            stored += 1
            n = key_index(settings, token or "")
            if n is not None:
                used.add(fps[n])
        if stored and not used:
            raise WrongKey(f"HANDOFF_CREDENTIALS_KEY opens none of the {stored} accounts "
                           "stored: not the key this database's accounts are sealed with")
        _set_marks(session, used)
    checked.add(tuple(fps))


def note_sealed(session: Session, settings: Settings) -> None:
    """Record that something was just sealed with the first key (after `require_key`)."""
    first = fingerprints(settings)[0]
    if first not in _recorded(session):
        _set_marks(session, _recorded(session) | {first})


def note_rotated(session: Session, settings: Settings, rows: int) -> None:
    """Every account was just re-sealed with the first key: only that key is recorded."""
    _set_marks(session, {fingerprints(settings)[0]} if rows else set())


def stored_accounts(session: Session, settings: Settings
                    ) -> Iterator[tuple[str, Credentials | None]]:
    """(code, credentials) of every agency with an account of its own; None for those
    that do not open with HANDOFF_CREDENTIALS_KEY."""
    rows = session.execute(select(Agency.code, Agency.credentials)
                           .where(Agency.credentials.is_not(None)).order_by(Agency.code))
    for code, token in rows:
        try:
            yield code, open_sealed(settings, token or "")
        except VaultError:
            yield code, None
