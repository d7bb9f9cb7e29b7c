"""The hand-over record's rules (biên bản bàn giao): which hand-offs a record takes, when the
carrier has settled one, how a record is numbered. Pure: no database, no I/O.

A record goes with the courier each way:
- result delivery: the envelopes the courier takes at the desk. A hand-off waits for it
  while its courier is called and the carrier has the order (`accepted`, or `pickup_failed`:
  the courier came once without it); `requested` is left out (no order at the carrier yet,
  nobody is coming). The carrier settles it by any status from `picked_up` on.
- collection (pickup): the dossiers the courier brings to the desk, collected from the
  citizen and not yet handed over; the carrier settles it by `delivered` (or any final).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import date
from enum import StrEnum

from worker.domain.errors import InvalidInput
from worker.domain.statuses import FINAL, RANK, Direction, Status


class Refusal(StrEnum):
    """Why the desk's paper was refused: the `code` of the InvalidInput (its `field` names
    the form's field, its reason is the clerk's Vietnamese)."""

    NOT_WAITING = "not_waiting"  # a code named waits for no record
    NONE_WAITING = "none_waiting"
    MIXED_AGENCIES = "mixed_agencies"
    TOO_MANY = "too_many"
    DIRECTION = "direction"
    NO_RECORD = "no_record"  # no such record, or another agency's
    REPLACED = "replaced"
    CANCELLED = "cancelled"
    BUSY = "busy"  # another desk or a carrier event holds the hand-offs
    NO_ORDER_NUMBER = "no_order_number"


def no_record(number: str) -> InvalidInput:
    """The refusal for a record that is not there, or not the clerk's (the same words)."""
    return InvalidInput(f"không có biên bản {number}", field="number", code=Refusal.NO_RECORD)


class ClosedHow(StrEnum):
    DESK = "desk"  # "Đã bàn giao" at the desk
    CARRIER = "carrier"  # the carrier's events settled every hand-off on it
    REPLACED = "replaced"  # a record for another set of the same hand-offs was printed
    CANCELLED = "cancelled"  # every hand-off on it was cancelled before the courier came


AWAITING: dict[Direction, frozenset[Status]] = {
    Direction.RESULT_DELIVERY: frozenset({Status.ACCEPTED, Status.PICKUP_FAILED}),
    Direction.PICKUP: frozenset({Status.PICKED_UP, Status.IN_TRANSIT,
                                 Status.AT_DELIVERY_OFFICE, Status.OUT_FOR_DELIVERY,
                                 Status.DELIVERY_FAILED}),
}

TITLE_VI: dict[Direction, str] = {
    Direction.RESULT_DELIVERY: "BIÊN BẢN BÀN GIAO KẾT QUẢ CHO BƯU CHÍNH",
    Direction.PICKUP: "BIÊN BẢN BÀN GIAO HỒ SƠ TỪ BƯU CHÍNH",
}

# the statuses (as stored) under which a hand-off is not yet settled by the carrier
UNSETTLED: dict[Direction, tuple[str, ...]] = {
    Direction.RESULT_DELIVERY: tuple(s.value for s in Status
                                     if RANK[s] < RANK[Status.PICKED_UP]),
    Direction.PICKUP: tuple(s.value for s in Status if s not in FINAL),
}


def settled(direction: str, status: str) -> bool:
    """The carrier has taken the hand-off, or it ended (cancelled too): its record no longer
    waits on it."""
    return status not in UNSETTLED[Direction(direction)]


def content_key(handoff_ids: Iterable[int]) -> str:
    """The same set of hand-offs, in any order, gives the same key (printing again)."""
    ids = ",".join(str(i) for i in sorted(set(handoff_ids)))
    return hashlib.sha256(ids.encode()).hexdigest()


UNSAFE = re.compile(r"[^A-Za-z0-9.-]")


def number_prefix(agency_code: str, day: date) -> str:
    """The agency code as the one-stop sent it is free text: in a record number (a file
    name, a URL's path) only letters, digits, '.' and '-' are kept, any other character
    becomes '-' (no '/', no space: "../x" is "..-x", one harmless name)."""
    return f"BB-{UNSAFE.sub('-', agency_code)}-{day:%Y%m%d}-"


def record_number(agency_code: str, day: date, seq: int) -> str:
    """BB-<agency>-<yyyymmdd>-<nnn>: the day's n-th record of the agency (local date)."""
    return f"{number_prefix(agency_code, day)}{seq:03d}"


def next_seq(numbers: Iterable[str], prefix: str) -> int:
    """One past the highest sequence among the day's numbers already given."""
    seqs = [int(n[len(prefix):]) for n in numbers
            if n.startswith(prefix) and n[len(prefix):].isdigit()]
    return max(seqs, default=0) + 1
