"""What a ledger row of each job kind carries (`jobs.payload`): one frozen dataclass per kind,
written to and read from the row's JSON under the keys such rows have always had."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, Self

from worker.domain.model import StatusPush
from worker.domain.statuses import Direction, told_as

# Stored rows outlive the code that wrote them: from_json takes every shape ever written
# (a key added later is optional), and to_json writes the keys rows have always had.


class JobPayload(Protocol):
    """A kind's payload: its JSON for the ledger row, and back."""

    def to_json(self) -> dict[str, Any]: ...

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self: ...


@dataclass(frozen=True)
class PostPayload:
    """A post carries nothing: it reads the hand-off and its agency as they are when it runs."""

    def to_json(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PostPayload:
        return cls()


@dataclass(frozen=True)
class CancelPayload:
    """Why a cancel was asked, by whom, and which one-stop withdrawals wait for its answer."""

    why: str
    source: str  # an EventSource value, as stored
    withdrawal: str | None = None  # the one-stop item that asked (the last one joined)
    withdrawals: tuple[str, ...] = ()  # every withdrawal joined; written only once one joined

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"why": self.why, "source": self.source,
                                "withdrawal": self.withdrawal}
        if self.withdrawals:
            data["withdrawals"] = list(self.withdrawals)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CancelPayload:
        withdrawal = data.get("withdrawal")  # rows from before withdrawals have none
        return cls(str(data.get("why", "")), str(data.get("source", "")),
                   None if withdrawal is None else str(withdrawal),
                   tuple(str(w) for w in data.get("withdrawals") or ()))

    def answers(self) -> list[str]:
        """The withdrawal items this cancel answers: every one that joined it (rows written
        before joins were listed name only the last)."""
        if self.withdrawals:
            return list(self.withdrawals)
        return [self.withdrawal] if self.withdrawal else []

    def joined(self, withdrawal: str) -> CancelPayload:
        """This cancel answering `withdrawal` too (last, once)."""
        others = [w for w in self.answers() if w != withdrawal]
        return replace(self, withdrawal=withdrawal, withdrawals=(*others, withdrawal))


@dataclass(frozen=True)
class PushPayload:
    """The status (or postal event) to tell the one-stop system, fixed when it was queued;
    the row keeps its fields flat, `late` only when True (older rows have no such key)."""

    push: StatusPush

    def to_json(self) -> dict[str, Any]:
        p = self.push
        data: dict[str, Any] = {
            "event_id": p.event_id, "dossier_code": p.dossier_code,
            "direction": p.direction.value, "status": p.status.value, "item_code": p.item_code,
            "carrier_code": p.carrier_code, "carrier_text": p.carrier_text,
            "occurred_at": p.occurred_at.isoformat(), "note": p.note,
        }
        if p.late:
            data["late"] = True
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PushPayload:
        return cls(StatusPush(
            event_id=data["event_id"], dossier_code=data["dossier_code"],
            direction=Direction(data["direction"]), status=told_as(data["status"]),
            item_code=data.get("item_code"), carrier_code=data.get("carrier_code"),
            carrier_text=data.get("carrier_text") or "",
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
            note=data.get("note") or "", late=bool(data.get("late")),
        ))

    def sent_with(self, item_code: str | None) -> StatusPush:
        """The push as sent now: with the hand-off's item code when it has one by now."""
        return replace(self.push, item_code=item_code or self.push.item_code)


@dataclass(frozen=True)
class NotifyPayload:
    """Which SLA rule broke, and the message id the receiver dedupes on."""

    rule: str
    message_id: str  # sla_{handoff}_{rule}: also the row's idempotency key

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "message_id": self.message_id}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NotifyPayload:
        return cls(data["rule"], data["message_id"])
