"""Value objects that cross the ports: hand-off requests, carrier orders, tracking events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from worker.domain.cod import CodEvent
from worker.domain.errors import InvalidInput
from worker.domain.statuses import Direction, PostalEvent, Status


@dataclass(frozen=True)
class Address:
    """A Vietnamese address: street part plus current GSO codes (since 1 July 2025)."""

    street: str
    province_code: str  # GSO province code, e.g. "82"
    ward_code: str  # GSO ward code, e.g. "30226"
    converted_from: str = ""  # the legacy (pre-July-2025) units it was converted from
    # The post office's own (province, district) codes of this ward, filled from the area
    # table just before an order is posted (service/agencies/areas.resolve); None: not mapped.
    carrier_area: tuple[int, int] | None = None


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str  # normalized, leading 0, digits only
    address: Address
    email: str | None = None


class HandoffKind:
    """Types of items the one-stop system announces (wire values)."""

    RESULT_READY = "result_ready"
    PICKUP_REQUESTED = "pickup_requested"
    HANDOFF_CANCELLED = "handoff_cancelled"


@dataclass(frozen=True)
class HandoffItem:
    """One item of the one-stop hand-off feed (or webhook), already validated."""

    item_id: str
    kind: str  # HandoffKind value
    dossier_code: str
    agency_code: str
    agency_name: str
    procedure_code: str
    procedure_name: str
    citizen: Contact | None  # None only for handoff_cancelled
    cod_amount: int
    created_at: datetime
    note: str = ""

    @property
    def direction(self) -> Direction:
        return Direction.PICKUP if self.kind == HandoffKind.PICKUP_REQUESTED else (
            Direction.RESULT_DELIVERY
        )


@dataclass(frozen=True)
class CarrierOrder:
    """What the carrier needs to send a courier. Sender/receiver depend on the direction."""

    order_number: str
    direction: Direction
    sender: Contact
    receiver: Contact
    cod_amount: int = 0
    description: str = ""
    sender_desc: str = ""


@dataclass(frozen=True)
class CarrierAccount:
    """One post-office account: which route reaches it, its customer code and credentials.

    The credentials live only in memory (decrypted from the agencies table when needed):
    `repr` never shows them. Agencies that share a route and customer code share the
    account: one token, one quota bucket, one tracking feed.
    """

    route: str  # a Route value
    customer_code: str
    customer_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    quota_per_second: float = 20.0
    push_secret: str = field(default="", repr=False)  # shared secret of status pushes

    @property
    def key(self) -> str:
        """The account's name in caches, buckets, cursors and metrics (no secret in it)."""
        return f"{self.route}:{self.customer_code}"


@dataclass(frozen=True)
class PostOutcome:
    """Result of posting an order: accepted now, or already there (a retried post)."""

    already_existed: bool
    message: str = ""


@dataclass(frozen=True)
class TrackingEvent:
    """One event of the carrier's tracking feed, translated to the domain."""

    event_id: str  # the feed's own id ($oid)
    order_number: str
    item_code: str | None
    occurred_at: datetime  # timezone-aware UTC
    raw_code: int
    raw_text: str
    status: Status | None  # None: informational or unknown code, moves nothing
    known_code: bool  # False when the code is not in the carrier's table
    post_office: str = ""
    notes: str = ""
    cod: CodEvent | None = None  # a fee collected or remitted (worker/domain/cod.py)
    # the amount a COD doc reported (its optional CODAmount, not in the contract); None:
    # not reported, so the amount is not known
    amount: int | None = None

    @property
    def dedup_key(self) -> str:
        """Same order, code and time = the same event, even if re-sent with a new id."""
        return f"{self.order_number}|{self.raw_code}|{int(self.occurred_at.timestamp() * 1000)}"


@dataclass(frozen=True)
class FeedPage:
    events: list[TrackingEvent]
    last_id: str  # cursor to pass next time (unchanged when the page is empty)


@dataclass(frozen=True)
class StatusPush:
    """A status change (or a postal event) told back to the one-stop system."""

    event_id: str  # stable: a retry sends the same id
    dossier_code: str
    direction: Direction
    status: Status | PostalEvent
    item_code: str | None
    carrier_code: int | None
    carrier_text: str
    occurred_at: datetime
    note: str = ""
    late: bool = False  # older than the status already told: recorded, moves nothing


@dataclass(frozen=True)
class RefusedItem:
    """A one-stop item that breaks the contract: kept for a person to fix, never posted."""

    error: InvalidInput  # names the wire field (`citizen.phone`) and says why
    direction: Direction  # pickup when the item says pickup_requested, else delivery
    agency: tuple[str, str] | None  # (code, name) as sent, storable; None: not an object


@dataclass(frozen=True)
class OnestopItem:
    """One one-stop item (feed or webhook) as the adapter read it.

    `item_id` and `dossier_code` are told even for an item that cannot be read (storable
    text; None when unusable), so it can be deduplicated and named in the log. `read` is
    the hand-off, why it was refused, or what a bug in reading it raised: re-raised where
    the item is taken, so that item alone is quarantined (worker/service/flow/isolation.py).
    """

    item_id: str | None
    dossier_code: str | None
    read: HandoffItem | RefusedItem | Exception


@dataclass(frozen=True)
class OnestopPage:
    items: list[OnestopItem]  # each read on its own: a bad item never spoils the page
    next_cursor: str | None
    extra: dict = field(default_factory=dict)
