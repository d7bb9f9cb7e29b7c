"""In-memory state of the one-stop simulator: feed, dossiers, push-backs, faults (thread-safe)."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime

from starlette.responses import JSONResponse

from simulators.onestop.data import DEFECTS, ItemFactory
from worker.domain.enums import VN_TZ
from worker.domain.model import HandoffKind
from worker.domain.statuses import Direction, PostalEvent, Status

STATUS_NAMES = {1: "Mới đăng ký", 2: "Được tiếp nhận", 3: "Không được tiếp nhận",
                4: "Đang xử lý", 5: "Yêu cầu bổ sung", 6: "Yêu cầu nghĩa vụ tài chính",
                7: "Công dân yêu cầu rút hồ sơ", 8: "Dừng xử lý", 9: "Đã xử lý xong",
                10: "Đã trả kết quả"}
_CURSOR_RE = re.compile(r"^c_(\d{6,})$")


@dataclass
class SimConfig:
    api_key: str = "demo-onestop-key"
    seed: int = 20261126
    seed_count: int = 0  # items in the feed at start (and after reset)
    seed_type: str = HandoffKind.RESULT_READY
    # faults (also settable through POST /_admin/faults)
    latency_ms: int = 0
    error_rate: float = 0.0  # share of API calls answered 503
    fail_next: int = 0  # the next n API calls answer 503 (deterministic bursts)
    rate_limit_per_s: float = 0.0  # 0 = unlimited; over it: 429 + Retry-After
    retry_after_s: int = 1
    duplicate_item_rate: float = 0.0  # share of served items served again in a later page
    lose_push_reply_rate: float = 0.0  # push recorded, then answered 503 (a lost reply)
    reject_push_for: list[str] = field(default_factory=list)  # dossier codes answered 422


FAULT_FIELDS = ("latency_ms", "error_rate", "fail_next", "rate_limit_per_s", "retry_after_s",
                "duplicate_item_rate", "lose_push_reply_rate", "reject_push_for")


def err(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"message": message, **extra}, status_code=status)


def _check_push(body: object) -> tuple[str, str] | None:
    """(field, message) of the first problem of a push body, None when it is valid."""
    if not isinstance(body, dict):
        return "body", "nội dung phải là đối tượng JSON"
    if not isinstance(body.get("eventId"), str) or not body["eventId"].strip():
        return "eventId", "thiếu eventId"
    if body.get("direction") not in {d.value for d in Direction}:
        return "direction", "direction phải là result_delivery hoặc pickup"
    if body.get("status") not in {s.value for s in (*Status, *PostalEvent)}:
        return "status", "status không thuộc danh sách trạng thái chuẩn hoá"
    if "late" in body and not isinstance(body["late"], bool):
        return "late", "late phải là true hoặc false"
    try:
        moment = datetime.fromisoformat(str(body.get("occurredAt")))
    except ValueError:
        return "occurredAt", "occurredAt phải theo ISO 8601"
    if moment.tzinfo is None:
        return "occurredAt", "occurredAt thiếu múi giờ"
    code = body.get("carrierCode")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        return "carrierCode", "carrierCode phải là số nguyên hoặc null"
    for key in ("itemCode", "carrierText", "note"):
        if body.get(key) is not None and not isinstance(body[key], str):
            return key, f"{key} phải là chuỗi ký tự"
    return None


class SimState:
    """Everything the simulator knows, guarded by one lock (handlers and tests share it)."""

    def __init__(self, config: SimConfig) -> None:
        self.lock = threading.Lock()
        self.start_config = config
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.config = SimConfig(**asdict(self.start_config))
            self.rng = random.Random(self.config.seed)
            self.factory = ItemFactory(random.Random(self.config.seed + 1))
            self.feed: list[dict] = []
            self.dossiers: dict[str, dict] = {}
            self.events: list[dict] = []
            self.event_ids: set[str] = set()
            self.duplicate_deliveries = 0
            self.api_requests = 0
            self.pending_dupes: list[dict] = []
            self.recent: deque[float] = deque()
            items = [self.factory.make(self.config.seed_type)
                     for _ in range(self.config.seed_count)]
            self._append(items)

    # --- feed ---------------------------------------------------------------------------
    def _append(self, items: list[dict]) -> None:
        for item in items:
            self.feed.append(item)
            code = item.get("dossierCode") if isinstance(item, dict) else None
            if not isinstance(code, str) or "/" in code:
                continue
            dossier = self.dossiers.setdefault(code, {
                "dossierCode": code, "procedure": item.get("procedure"),
                "agency": item.get("agency"), "status": 1, "postal": None,
                "postalStatus": None})
            if item.get("type") == HandoffKind.RESULT_READY:
                dossier["status"] = max(dossier["status"], 9)
            if item.get("type") != HandoffKind.HANDOFF_CANCELLED:
                dossier["postal"] = {k: item.get(k) for k in
                                     ("type", "citizen", "codAmount", "createdAt", "note")}
            else:  # asked, not done: the postal status moves when the worker tells it
                dossier["withdrawalRequested"] = True

    def add_items(self, items: list[dict]) -> list[dict]:
        with self.lock:
            self._append(items)
        return items

    def generate(self, count: int, kind: str, invalid: int) -> tuple[list[dict], dict]:
        with self.lock:
            items, defects = [], {}
            for i in range(count):
                defect = DEFECTS[i % len(DEFECTS)] if i < invalid else None
                item = self.factory.make(kind, defect)
                items.append(item)
                if defect:
                    defects[item["id"]] = defect
            self._append(items)
        return items, defects

    def page(self, after: str | None, limit: int) -> tuple[list[dict], str]:
        pos = 0
        if after:
            match = _CURSOR_RE.match(after)
            if not match:
                raise ValueError("cursor")
            pos = int(match.group(1))
        with self.lock:
            pos = min(pos, len(self.feed))
            dupes, self.pending_dupes = self.pending_dupes[:limit], self.pending_dupes[limit:]
            fresh = self.feed[pos:pos + max(0, limit - len(dupes))]
            for item in fresh:
                if self.rng.random() < self.config.duplicate_item_rate:
                    self.pending_dupes.append(item)
            return dupes + fresh, f"c_{pos + len(fresh):06d}"

    # --- faults --------------------------------------------------------------------------
    def gate(self) -> JSONResponse | None:
        """Fault injection for /api/*: 429 over the rate, then 503 bursts and random 503."""
        with self.lock:
            self.api_requests += 1
            cfg = self.config
            if cfg.rate_limit_per_s > 0:
                now = time.monotonic()
                while self.recent and now - self.recent[0] >= 1.0:
                    self.recent.popleft()
                if len(self.recent) >= cfg.rate_limit_per_s:
                    return JSONResponse({"message": "quá nhiều yêu cầu"}, status_code=429,
                                        headers={"Retry-After": str(cfg.retry_after_s)})
                self.recent.append(now)
            if cfg.fail_next > 0:
                cfg.fail_next -= 1
                return err(503, "hệ thống đang bảo trì")
            if cfg.error_rate and self.rng.random() < cfg.error_rate:
                return err(503, "hệ thống đang bảo trì")
        return None

    # --- push-back -----------------------------------------------------------------------
    def push(self, code: str, body: object) -> JSONResponse:
        with self.lock:
            dossier = self.dossiers.get(code)
            if dossier is None:
                return err(404, f"không tìm thấy hồ sơ {code}")
            if code in self.config.reject_push_for:
                return err(422, "hồ sơ đang bị khoá, không nhận cập nhật bưu chính",
                            field="dossierCode")
            problem = _check_push(body)
            if problem is not None:
                return err(422, problem[1], field=problem[0])
            assert isinstance(body, dict)
            if body["eventId"] in self.event_ids:
                self.duplicate_deliveries += 1
                return JSONResponse({"recorded": False, "duplicate": True})
            self.event_ids.add(body["eventId"])
            self.events.append({**body, "dossierCode": code,
                                "receivedAt": datetime.now(VN_TZ).isoformat()})
            # a postal event or a late milestone goes into the history only (section 3)
            if body["status"] in {s.value for s in Status} and not body.get("late"):
                dossier["postalStatus"] = body["status"]
                if (body["direction"], body["status"]) == ("result_delivery", "delivered"):
                    dossier["status"] = 10
            lose = self.rng.random() < self.config.lose_push_reply_rate
        if lose:
            return err(503, "mất kết nối khi trả lời")
        return JSONResponse({"recorded": True, "duplicate": False})

    def stats(self) -> dict:
        with self.lock:
            per: dict[str, int] = {}
            for event in self.events:
                per[event["dossierCode"]] = per.get(event["dossierCode"], 0) + 1
            return {"events": len(self.events), "duplicate_deliveries": self.duplicate_deliveries,
                    "per_dossier": per, "feed_items": len(self.feed),
                    "dossiers": len(self.dossiers), "api_requests": self.api_requests}
