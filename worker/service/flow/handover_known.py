"""Which hand-offs are on an open hand-over record, read once for a chunk of tracking
events (flow/tracking.py read_known) so that `handover.leave_record` looks up only those:
kept in the session's info for the transaction that read it, and dropped when the chunk
ends (feeds.apply_chunk), since the row locks that make it true may go with a savepoint."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.db.models import HandoverRecordItem
from worker.db.sets import among

_KNOWN_OPEN = "handover.known_open"  # session.info: (transaction, ids asked, ids on a record)


def know_open(session: Session, handoff_ids: list[int]) -> None:
    """Read at once which of these hand-offs are on an open record. The caller holds the
    hand-offs' row locks: a record takes its hand-offs only under theirs
    (handover.make_record), so none joins one meanwhile (one leaving is looked up as
    before: it was on one)."""
    found = set(session.scalars(select(HandoverRecordItem.open_handoff_id).where(
        among(session, HandoverRecordItem.open_handoff_id, handoff_ids)))) if handoff_ids else set()
    session.info[_KNOWN_OPEN] = (session.get_transaction(), set(handoff_ids), found)


def forget_open(session: Session) -> None:
    """Drop what know_open read: its locks may be gone (a savepoint rolled back)."""
    session.info.pop(_KNOWN_OPEN, None)


def surely_on_none(session: Session, handoff_id: int) -> bool:
    """Whether know_open found this hand-off on no open record, in this transaction."""
    known = session.info.get(_KNOWN_OPEN)
    return (known is not None and known[0] is session.get_transaction()
            and handoff_id in known[1] and handoff_id not in known[2])
