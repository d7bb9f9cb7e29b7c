"""The carrier simulator's in-memory world: tokens, orders, and the tracking feed they make."""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from integrations.carriers.vnpost import wire
from integrations.carriers.vnpost.s10 import make_s10
from simulators.carrier.rules import (
    PICKUP_FAIL_CODES,
    UNKNOWN_CODE,
    SimClock,
    SimConfig,
    Step,
    fee_reported,
    plan_path,
    uniform,
    validate_order,
)
from worker.domain.enums import Route

__all__ = ["SimConfig", "SimOrder", "SimStore", "validate_order"]

# The simulator's own Status for a cancel of an unknown order (a taken order gets the
# configured `cancel_refused_status`). The contract defines only 100 ("cancelled"); the
# worker reads every other Status as a refusal and never relies on these.
SIM_NO_SUCH_ORDER = 105


@dataclass
class SimOrder:
    number: str
    body: dict
    created_at: float
    plan: list[Step]
    posts: int = 1
    next_step: int = 0
    cancelled: bool = False
    item_code: str | None = None
    events: list[dict] = field(default_factory=list)
    route: str = Route.NGSP  # the door it came by
    account: str | None = None  # the customer key whose token posted it


class SimStore:
    """All simulator state, guarded by one lock; every public method takes it."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.initial = dataclasses.replace(config)
        self.lock = threading.RLock()
        # Kept across resets so that feed ids keep growing: an old cursor never hides new events.
        self._seq = 0
        self._last_prefix = 0
        self.reset()

    def reset(self, *, restore_config: bool = False) -> None:
        with self.lock:
            if restore_config:
                self.config = dataclasses.replace(self.initial)
            self.clock = SimClock(self.config.speed, self.config.start_epoch)
            self.orders: dict[str, SimOrder] = {}
            self.feed: list[dict] = []
            self.feed_ready: list[float] = []  # monotonic time each feed entry shows from
            self.pushed_upto = 0  # feed entries the push product has taken (pusher.py)
            self.hung: list[dict[str, Any]] = []  # posts held by hang_dossiers (doors.py)
            self.tokens: dict[str, tuple[float, str]] = {}  # -> (expiry, customer key)
            self.token_requests_by_account: Counter[str] = Counter()
            self.requests_by_route: Counter[str] = Counter()
            self.counts = {
                "posts": 0,
                "repeat_posts": 0,
                "rejected": 0,
                "token_requests": 0,
                "cancelled": 0,
                "throttled": 0,
                "errors_injected": 0,
                "timeouts_injected": 0,
                "pushes_sent": 0,  # answered success by the receiver
                "pushes_resent": 0,  # tried again under the same transaction id
                "push_copies_not_2xx": 0,  # copies (push_copies) answered other than 2xx
            }
            self.copy_answers: Counter[str] = Counter()  # push copies by answer (or error)
            self._item_seq = 10_000_000 + self.config.seed % 1_000_000

    def set_faults(self, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.config.merge(changes)
            if "speed" in changes:
                self.clock.set_speed(self.config.speed)
            return self.config.public()

    # --- accounts and tokens ---------------------------------------------------------------
    def count_request(self, route: str, token_request: bool = False,
                      customer_key: str | None = None) -> None:
        with self.lock:
            self.requests_by_route[route] += 1
            if token_request:
                self.counts["token_requests"] += 1
                self.token_requests_by_account[customer_key or "?"] += 1

    def login(self, customer_key: str, secret: str) -> bool:
        """Whether the pair is one the simulator knows (constant-time on the secret)."""
        with self.lock:
            known = self.config.credentials(customer_key)
        expected = known[0] if known else secrets.token_hex(16)
        return secrets.compare_digest(secret.encode(), expected.encode()) and known is not None

    def issue_token(self, customer_key: str | None = None) -> tuple[str, float]:
        with self.lock:
            token = secrets.token_urlsafe(24)
            owner = customer_key or self.config.customer_key
            self.tokens[token] = (time.monotonic() + self.config.token_ttl, owner)
            return token, self.config.token_ttl

    def token_account(self, token: str) -> str | None:
        """The customer key a still-valid token was issued to; None if unknown or expired."""
        with self.lock:
            entry = self.tokens.get(token)
            return entry[1] if entry is not None and time.monotonic() < entry[0] else None

    def token_valid(self, token: str) -> bool:
        return self.token_account(token) is not None

    def _code_of(self, account: str | None) -> str | None:
        """The CustomerCode an account may use (None: any); no account: the config's rule."""
        if account is None:
            return self.config.customer_code
        known = self.config.credentials(account)
        return known[1] if known else self.config.customer_code

    def revoke_tokens(self) -> int:
        with self.lock:
            n, self.tokens = len(self.tokens), {}
            return n

    # --- orders ---------------------------------------------------------------------------
    def post(self, body: Any, account: str | None = None,
             route: str = Route.NGSP) -> tuple[int, str, bool]:
        """(Status, Message, created by this call); `account`: the token's customer key."""
        with self.lock:
            self.counts["posts"] += 1
            rejection = validate_order(body, self._code_of(account))
            if rejection is not None:
                self.counts["rejected"] += 1
                return rejection[0], rejection[1], False
            number = body["OrderNumber"]
            if number in self.orders:
                self.orders[number].posts += 1
                self.counts["repeat_posts"] += 1
                return wire.ALREADY_EXISTS, "Đơn hàng đã tồn tại", False
            self.orders[number] = SimOrder(
                number,
                dict(body),
                self.clock.now(),
                plan_path(self.config, number, body.get("CODAmount", 0)),
                route=route,
                account=account,
            )
            return wire.ACCEPTED, "Tạo đơn hàng thành công", True

    def cancel(self, customer_code: str, number: str,
               account: str | None = None) -> tuple[int, str]:
        with self.lock:
            allowed = self._code_of(account)
            if allowed is not None and customer_code != allowed:
                return 102, "Trường CustomerCode không đúng"
            self._materialize()
            order = self.orders.get(number)
            if order is None or order.body["CustomerCode"] != customer_code:
                return SIM_NO_SUCH_ORDER, "Không tìm thấy đơn hàng"
            if order.cancelled:
                return wire.ACCEPTED, "Đơn hàng đã được hủy trước đó"
            if any(
                e["StatusCode"] in wire.STATUS_TABLE
                and e["StatusCode"] >= 1
                and e["StatusCode"] not in PICKUP_FAIL_CODES
                for e in order.events
            ):
                return self.config.cancel_refused_status, "Bưu tá đã nhận hàng, không thể hủy đơn"
            order.cancelled = True
            self.counts["cancelled"] += 1
            return wire.ACCEPTED, "Hủy đơn hàng thành công"

    def tracking(self, last_id: str, pagesize: int, account: str | None = None
                 ) -> dict[str, Any]:
        """A page of the feed of the account's customer code (all codes for an account not
        tied to one: the demo default)."""
        with self.lock:
            self._materialize()
            code = self._code_of(account) if account is not None else None
            feed = [e for e in self._shown() if code is None or e["CustomerCode"] == code]
            # oids are same-length lowercase hex that only grow: string order is feed order.
            after = [e for e in feed if e["_id"]["$oid"] > last_id.lower()]
            docs = [dict(e) for e in after[:pagesize]]
            total = len(feed)
            return {
                "_embedded": {"rh:doc": docs},
                "_returned": len(docs),
                "_size": total,
                "_total_pages": max(1, -(-total // pagesize)),
            }

    def advance(self, seconds: float) -> float:
        with self.lock:
            self.clock.advance(seconds)
            return self.clock.now()

    # --- views ----------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self.lock:
            self._materialize()
            return {
                "orders": len(self.orders),
                "posts": self.counts["posts"],
                "duplicates": 0,  # one SimOrder per OrderNumber, by construction of the dict
                "repeat_posts": self.counts["repeat_posts"],
                "rejected": self.counts["rejected"],
                "token_requests": self.counts["token_requests"],
                "events": len(self.feed),
                "cancelled": self.counts["cancelled"],
                "sim_time": self.clock.now(),
                "hung_posts": list(self.hung),
                **{
                    k: self.counts[k] for k in ("throttled", "errors_injected", "timeouts_injected",
                                                "pushes_sent", "pushes_resent",
                                                "push_copies_not_2xx")
                },
                "push_copy_answers": dict(self.copy_answers),
                "orders_by_number": {
                    n: {
                        "posts": o.posts,
                        "created": 1,
                        "cancelled": o.cancelled,
                        "final_code": o.events[-1]["StatusCode"] if o.events else None,
                        "customer_code": o.body["CustomerCode"],
                        "route": str(o.route),
                        "account": o.account,
                    }
                    for n, o in self.orders.items()
                },
                **self._per_account(),
            }

    def _per_account(self) -> dict[str, Any]:
        """Who sent what: orders per customer code (and per route), token requests per
        customer key, contract requests (token requests included) per door."""
        by_code: dict[str, Counter[str]] = {}
        for o in self.orders.values():
            by_code.setdefault(o.body["CustomerCode"], Counter())[str(o.route)] += 1
        return {
            "orders_by_customer": {c: sum(r.values()) for c, r in sorted(by_code.items())},
            "orders_by_customer_route": {c: dict(r) for c, r in sorted(by_code.items())},
            "token_requests_by_account": dict(sorted(self.token_requests_by_account.items())),
            "requests_by_route": {str(r): self.requests_by_route.get(r, 0) for r in Route},
        }

    def order_view(self, number: str) -> dict[str, Any] | None:
        with self.lock:
            self._materialize()
            o = self.orders.get(number)
            if o is None:
                return None
            return {
                "order_number": o.number,
                "body": o.body,
                "created_at": o.created_at,
                "posts": o.posts,
                "cancelled": o.cancelled,
                "item_code": o.item_code,
                "plan": [dataclasses.asdict(s) for s in o.plan],
                "events": o.events,
            }

    # --- paths and feed -------------------------------------------------------------------
    def _materialize(self) -> None:
        """Emit every planned event whose visible time has passed, oldest first."""
        now = self.clock.now()
        due: list[tuple[float, int, SimOrder, Step]] = []
        for order in self.orders.values():
            while (
                not order.cancelled
                and order.next_step < len(order.plan)
                and order.created_at + order.plan[order.next_step].visible_at <= now
            ):
                due.append(
                    (
                        order.created_at + order.plan[order.next_step].visible_at,
                        len(due),
                        order,
                        order.plan[order.next_step],
                    )
                )
                order.next_step += 1
        for _, _, order, step in sorted(due, key=lambda d: (d[0], d[1])):
            self._emit(order, step, now)

    def _emit(self, order: SimOrder, step: Step, now: float) -> None:
        if step.code == 8 and order.number in self.config.cod_unremitted:
            return  # the post office never pays this fee back (rules.SimConfig)
        if order.item_code is None:
            self._item_seq += 1
            order.item_code = make_s10("EB", self._item_seq)
        side = order.body["SenderDistrict" if step.at_sender else "ReceiverDistrict"]
        event_ms = int((order.created_at + step.event_at) * 1000)
        doc = {
            "CustomerCode": order.body["CustomerCode"],
            "OrderNumber": order.number,
            "ItemCode": order.item_code,
            "EventTime": event_ms,
            "POSID": f"{side % 100_000:05d}0",
            "StatusCode": step.code,
            "StatusMessage": wire.STATUS_TABLE[step.code][1],
            "Notes": step.notes,
        }
        fee = fee_reported(self.config, order.number, order.body, step.code)
        if fee is not None:
            doc["CODAmount"] = fee
        key = (order.number, len(order.events))
        self._append(order, doc, now)
        if uniform(self.config.seed, *key, "dup") < self.config.duplicate_event_rate:
            self._append(order, {**doc, "Notes": doc["Notes"] or "Cập nhật thông tin"}, now)
        if uniform(self.config.seed, *key, "unknown") < self.config.unknown_code_rate:
            self._append(
                order,
                {
                    **doc,
                    "StatusCode": UNKNOWN_CODE,
                    "EventTime": event_ms + 1000,
                    "StatusMessage": "Trạng thái khác",
                    "Notes": "",
                },
                now,
            )

    def _shown(self) -> list[dict]:
        """The feed as far as it is out (feed_lag_s): a prefix, so no cursor skips an entry."""
        now, shown = time.monotonic(), 0
        while shown < len(self.feed) and self.feed_ready[shown] <= now:
            shown += 1
        return self.feed[:shown]

    def _append(self, order: SimOrder, doc: dict, now: float) -> None:
        self._seq += 1
        self._last_prefix = max(self._last_prefix, int(now) & 0xFFFFFFFF)
        doc = {"_id": {"$oid": f"{self._last_prefix:08x}{self._seq:016x}"}, **doc}
        order.events.append(doc)
        self.feed.append(doc)
        self.feed_ready.append(time.monotonic() + self.config.feed_lag_s)
