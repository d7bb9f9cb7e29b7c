"""The carrier simulator's rules: config and fault knobs, sped-up clock, validation, paths."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from integrations.carriers.vnpost import wire
from integrations.carriers.vnpost.routes import lgsp_wire

HOUR = 3600.0
PICKUP_FAIL_CODES = frozenset({13, 14, 15, 16})
UNKNOWN_CODE = 99


@dataclass
class SimConfig:
    """Start-up settings and fault knobs; POST /_admin/faults merges JSON into it at runtime."""

    customer_key: str = "demo-key"
    secret_key: str = "demo-secret"
    customer_code: str | None = None  # None: any CustomerCode is accepted
    # More accounts (one a customer code): customer_key -> [secret_key, customer_code]. An
    # order or cancel must name the code of the account whose token it carries.
    accounts: dict[str, list[str]] = field(default_factory=dict)
    # Route B (the LGSP door): the service names its gateway routes by
    lgsp_service_post: str = lgsp_wire.POST_SERVICE
    lgsp_service_tracking: str = lgsp_wire.TRACKING_SERVICE
    lgsp_service_cancel: str = lgsp_wire.CANCEL_SERVICE
    speed: float = 1.0  # simulated seconds per real second
    seed: int = 0
    token_ttl: float = 3600.0  # real seconds
    latency_ms: float = 0.0
    error_rate: float = 0.0  # share of contract requests answered HTTP 503
    fail_next: int = 0  # the next N contract requests answer 503 (deterministic bursts)
    timeout_rate: float = 0.0  # share of requests that sleep timeout_sleep_s, then 504
    timeout_sleep_s: float = 15.0
    rate_limit_per_s: float = 0.0  # 0: unlimited; above it: 429 with Retry-After
    lose_first_reply: bool = False  # first post of each OrderNumber creates it, answers 504
    # Posts of these dossiers (the OrderNumber before its last "/") hang hang_s seconds and
    # answer 503, creating nothing: work that holds whoever processes it (stats: hung_posts)
    hang_dossiers: list[str] = field(default_factory=list)
    hang_s: float = 30.0
    # The next N posts that create an order create it, then hold the reply timeout_sleep_s
    # (longer than the client waits): the reply never arrives, a timeout rather than a 504
    lose_reply_next: int = 0
    duplicate_event_rate: float = 0.0
    out_of_order_rate: float = 0.0
    unknown_code_rate: float = 0.0
    return_rate: float = 0.05
    pickup_fail_rate: float = 0.05
    # Status answering a cancel after pickup: the contract names none, so tests vary it
    cancel_refused_status: int = 104
    start_epoch: float | None = None  # simulated start (epoch s); None: now
    # The status-push product (simulators/carrier/pusher.py): customer code -> [URL, push
    # secret] of the accounts that registered one; and how long (real seconds) the feed
    # holds each new event back, so that pushes run ahead of it as they do in production
    push_targets: dict[str, list[str]] = field(default_factory=dict)
    feed_lag_s: float = 0.0
    push_copies: int = 1  # each push posted this many times at once (a duplicating network)
    # Fees (COD): the contract's codes 6/8 carry no amount; with cod_amount_in_feed they
    # carry the order's CODAmount. For chosen OrderNumbers: no code 8 ever (a remittance
    # missing), or this amount reported on codes 6 and 8 (a mismatch)
    cod_amount_in_feed: bool = False
    cod_unremitted: list[str] = field(default_factory=list)
    cod_reported: dict[str, int] = field(default_factory=dict)

    def merge(self, changes: dict[str, Any]) -> None:
        """Apply a JSON object; unknown keys or wrong types raise ValueError (nothing applied)."""
        types = {f.name: f.type for f in dataclasses.fields(self)}
        new = {}
        for key, value in changes.items():
            if key not in types:
                raise ValueError(f"unknown config key {key!r}")
            kind = str(types[key])
            if kind == "dict[str, int]":
                ok = isinstance(value, dict) and all(
                    isinstance(k, str) and type(v) is int and v >= 0 for k, v in value.items())
            elif kind.startswith("dict"):
                ok = _accounts_ok(value)
            elif kind.startswith("list"):
                ok = isinstance(value, list) and all(isinstance(x, str) for x in value)
            elif "bool" in kind:
                ok = isinstance(value, bool)
            elif "int" in kind and "float" not in kind:
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif "float" in kind:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            else:
                ok = value is None or isinstance(value, str)
            if not ok and not (value is None and "None" in kind):
                raise ValueError(f"bad value for {key!r}: {value!r}")
            new[key] = value
        if new.get("speed", self.speed) <= 0:
            raise ValueError("speed must be > 0")
        for key, value in new.items():
            setattr(self, key, value)


    def credentials(self, customer_key: str) -> tuple[str, str | None] | None:
        """(secret, customer code or None for any) of a customer key; None if unknown."""
        if customer_key == self.customer_key:
            return self.secret_key, self.customer_code
        pair = self.accounts.get(customer_key)
        return (pair[0], pair[1]) if pair else None

    def public(self) -> dict[str, Any]:
        """The config as the admin endpoint shows it: secrets masked."""
        shown = dataclasses.asdict(self)
        shown["secret_key"] = "***"
        shown["accounts"] = {k: ["***", code] for k, (_, code) in self.accounts.items()}
        shown["push_targets"] = {c: [url, "***"] for c, (url, _) in self.push_targets.items()}
        return shown


def _accounts_ok(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and k and isinstance(v, list) and len(v) == 2
        and all(isinstance(x, str) and x for x in v)
        for k, v in value.items()
    )


class SimClock:
    """Simulated time = anchor + real elapsed * speed; can be sped up or pushed forward."""

    def __init__(self, speed: float, start_epoch: float | None = None) -> None:
        self._anchor_real = time.monotonic()
        self._anchor_sim = start_epoch if start_epoch is not None else time.time()
        self._speed = speed

    def now(self) -> float:
        return self._anchor_sim + (time.monotonic() - self._anchor_real) * self._speed

    def set_speed(self, speed: float) -> None:
        self._anchor_sim, self._anchor_real = self.now(), time.monotonic()
        self._speed = speed

    def advance(self, seconds: float) -> None:
        self._anchor_sim += max(0.0, seconds)


@dataclass
class Step:
    event_at: float  # offset from creation, simulated seconds (the EventTime)
    visible_at: float  # when it shows in the feed (later than event_at when out of order)
    code: int
    notes: str = ""
    at_sender: bool = True  # which post office reports it


_REQUIRED_TEXT = (
    "CustomerCode",
    "OrderNumber",
    "SenderName",
    "SenderAddress",
    "SenderTel",
    "ReceiverName",
    "ReceiverAddress",
    "ReceiverTel",
)
_OPTIONAL_TEXT = ("SenderEmail", "ReceiverEmail", "SenderDesc", "Description")
_AREAS = ("SenderProvince", "SenderDistrict", "ReceiverProvince", "ReceiverDistrict")


def validate_order(body: Any, customer_code: str | None) -> tuple[int, str] | None:
    """(Status, Message) of a rejection, or None when the body is acceptable."""
    if not isinstance(body, dict):
        return 102, "Nội dung đơn hàng không hợp lệ"
    for name in _REQUIRED_TEXT:
        if not isinstance(body.get(name), str) or not body[name].strip():
            return 102, f"Trường {name} bị thiếu hoặc không hợp lệ"
    for name in _OPTIONAL_TEXT:
        if body.get(name) is not None and not isinstance(body[name], str):
            return 102, f"Trường {name} không hợp lệ"
    if len(body["OrderNumber"]) > wire.MAX_ORDER_NUMBER:
        return 102, "Trường OrderNumber dài quá 50 ký tự"
    cod = body.get("CODAmount", 0)
    if not isinstance(cod, int) or isinstance(cod, bool) or cod < 0:
        return 102, "Trường CODAmount không hợp lệ"
    for name in ("SenderTel", "ReceiverTel"):
        if not body[name].isdigit() or not 9 <= len(body[name]) <= 11:
            return 102, f"Trường {name} không hợp lệ"
    for name in _AREAS:
        if not isinstance(body.get(name), int) or isinstance(body[name], bool):
            return 102, f"Trường {name} bị thiếu hoặc không hợp lệ"
    for name in _AREAS:
        if body[name] <= 0:
            return 103, f"Mã vùng {name}={body[name]} không tồn tại"
    if customer_code is not None and body["CustomerCode"] != customer_code:
        return 102, "Trường CustomerCode không đúng"
    return None


def fee_reported(cfg: SimConfig, number: str, body: dict, code: int) -> int | None:
    """The CODAmount a fee doc (code 6 or 8) carries; None: none (as in the contract)."""
    if code not in wire.COD_CODES:
        return None
    if number in cfg.cod_reported:
        return cfg.cod_reported[number]
    return int(body.get("CODAmount", 0)) if cfg.cod_amount_in_feed else None


def uniform(seed: int, *parts: object) -> float:
    """A uniform number in [0, 1) fixed by the seed and the parts (order-independent)."""
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def plan_path(cfg: SimConfig, number: str, cod: int) -> list[Step]:
    """The events an order will go through, fixed at creation from its OrderNumber."""

    def u(*parts: object) -> float:
        return uniform(cfg.seed, number, *parts)

    scale = 0.8 + 0.4 * u("scale")
    pre: list[tuple[float, int, str, bool]] = []
    if u("pickup_fail") < cfg.pickup_fail_rate:
        pre.append((1 * HOUR, 13, "Hồ sơ chưa sẵn sàng", True))
        if u("pickup_fail_2") < 0.5:
            pre.append((25 * HOUR, 14, "Hồ sơ chưa sẵn sàng", True))
    t0 = pre[-1][0] if pre else 0.0
    path: list[tuple[float, int, str, bool]]
    if u("return") < cfg.return_rate:
        path = [
            (1, 1, "", True),
            (3, 2, "", True),
            (8, 3, "", False),
            (10, 4, "Không có người nhận", False),
            (34, 4, "Không liên lạc được người nhận", False),
            (36, 7, "Chuyển hoàn về người gửi", False),
            (72, 9, "", True),
        ]
    else:
        path = [
            (1, 1, "", True),
            (3, 2, "", True),
            (4, 10, "", False),
            (8, 3, "", False),
            (10, 5, "", False),
        ]
        if cod > 0:
            path += [(10.02, 6, "", False), (58, 8, "", True)]
    raw = pre + [(t0 + h * HOUR, c, n, s) for h, c, n, s in path]
    steps = [Step(t * scale, t * scale, c, n, s) for t, c, n, s in raw]
    if len(steps) > 1 and u("ooo") < cfg.out_of_order_rate:
        i = int(u("ooo_at") * (len(steps) - 1))
        steps[i], steps[i + 1] = steps[i + 1], steps[i]
        steps[i].visible_at = steps[i + 1].visible_at = max(
            steps[i].event_at, steps[i + 1].event_at
        )
    return steps
