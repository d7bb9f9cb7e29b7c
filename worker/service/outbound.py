"""Running one ledger row against the outside world, and settling what came of it."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from worker.db.models import Handoff, utcnow
from worker.domain.errors import CancelRefused, PermanentError, TransientError
from worker.domain.model import Address, CarrierOrder, Contact, StatusPush
from worker.domain.privacy import scrub
from worker.domain.rules import backoff_seconds
from worker.domain.statuses import FINAL, Direction, Status
from worker.service import cancel, handoffs, ledger

if TYPE_CHECKING:
    from worker.bootstrap import Runtime

log = logging.getLogger(__name__)


def run_job(rt: Runtime, job_id: int) -> list[int]:
    """One attempt of one job. Returns ids of jobs it created (to ring at once)."""
    s = rt.settings
    with rt.db.unit_of_work() as session:
        # lock order everywhere: the hand-off first, then its jobs (no deadlock on PostgreSQL)
        handoff_id = ledger.handoff_of(session, job_id)
        if handoff_id is None:
            return []
        handoff = handoffs.locked(session, handoff_id)
        claimed = ledger.claim(session, job_id, s.lease_seconds)
        if claimed is None:
            return []
        if claimed.kind == ledger.Kind.POST_ORDER and Status(handoff.status) in FINAL:
            # cancelled (or finished) while the post waited: never send a courier for it
            ledger.settle_done(session, claimed, note=f"skipped: hand-off {handoff.status}")
            return []
        request = _prepare(rt, claimed, handoff)
    started = time.monotonic()
    try:
        result = _perform(rt, claimed.kind, request)
        failure: Exception | None = None
    except (PermanentError, TransientError) as err:
        result, failure = None, err
    except Exception as err:  # a bug or an unexpected reply: retried, never crashes the worker
        log.error("job %s (%s) failed unexpectedly: %s", claimed.id, claimed.kind,
                  type(err).__name__)
        result, failure = None, TransientError(f"lỗi không mong đợi ({type(err).__name__})")
    took = int((time.monotonic() - started) * 1000)
    return _settle(rt, claimed, result=result, failure=failure, duration_ms=took)


def _prepare(rt: Runtime, claimed: ledger.Claimed, h: Handoff) -> Any:
    if claimed.kind == ledger.Kind.POST_ORDER:
        return build_order(rt, h)
    if claimed.kind == ledger.Kind.CANCEL_ORDER:
        return h.order_number
    p = claimed.payload
    return StatusPush(
        event_id=p["event_id"], dossier_code=p["dossier_code"],
        direction=Direction(p["direction"]), status=Status(p["status"]),
        item_code=h.item_code or p.get("item_code"), carrier_code=p.get("carrier_code"),
        carrier_text=p.get("carrier_text") or "",
        occurred_at=datetime.fromisoformat(p["occurred_at"]), note=p.get("note") or "",
    )


def build_order(rt: Runtime, h: Handoff) -> CarrierOrder:
    agency = rt.settings.agency(h.agency_code)
    desk = Contact(name=h.agency_name or agency.name, phone=agency.tel, email=agency.email,
                   address=Address(agency.address, agency.province_code, agency.ward_code))
    citizen = Contact(name=h.citizen_name, phone=h.citizen_phone, email=h.citizen_email,
                      address=Address(h.citizen_address, h.province_code, h.ward_code))
    pickup = h.direction == Direction.PICKUP
    assert h.order_number is not None
    return CarrierOrder(
        order_number=h.order_number, direction=Direction(h.direction),
        sender=citizen if pickup else desk, receiver=desk if pickup else citizen,
        cod_amount=h.cod_amount, description=f"{h.procedure_name} - hồ sơ {h.dossier_code}"[:200],
        sender_desc=("Hồ sơ gửi tới " if pickup else "Kết quả TTHC từ ") + (h.agency_name or ""),
    )


def _perform(rt: Runtime, kind: str, request: Any) -> Any:
    if kind == ledger.Kind.POST_ORDER:
        return rt.carrier.post_order(request)
    if kind == ledger.Kind.CANCEL_ORDER:
        return rt.carrier.cancel_order(request)
    return rt.onestop.push_status(request)


def _settle(rt: Runtime, claimed: ledger.Claimed, *, result: Any = None,
            failure: Exception | None = None, duration_ms: int | None = None) -> list[int]:
    s = rt.settings
    new_jobs = []
    with rt.db.unit_of_work() as session:
        h = handoffs.locked(session, claimed.handoff_id)
        if failure is None:
            ledger.settle_done(session, claimed, duration_ms=duration_ms)
            new_jobs = _on_success(session, claimed, h, result)
        elif isinstance(failure, TransientError) and claimed.attempts < s.max_attempts:
            wait = backoff_seconds(claimed.attempts, s.backoff_base_seconds,
                                   s.backoff_max_seconds, failure.retry_after)
            ledger.settle_retry(session, claimed, scrub(str(failure)), wait, duration_ms)
            log.info("job %s %s: transient (%s), retry in %.0fs", claimed.id, claimed.kind,
                     scrub(str(failure)), wait)
        else:
            new_jobs = _on_failure(session, claimed, h, failure, duration_ms)
        session.flush()
        ids = [j.id for j in new_jobs if j is not None]
    return ids


def _on_success(session: Any, claimed: ledger.Claimed, h: Handoff, result: Any) -> list[Any]:
    now = utcnow()
    if claimed.kind == ledger.Kind.POST_ORDER:
        code = "101" if result.already_existed else "100"
        text = "đơn đã tồn tại (gửi lại)" if result.already_existed else "bưu điện nhận đơn"
        change = handoffs.Change(Status.ACCEPTED, "worker", now, raw_code=code,
                                 raw_text=result.message or text,
                                 dedup_key=f"accepted:{h.order_number}")
        return [handoffs.apply(session, h, change)[1]]
    if claimed.kind == ledger.Kind.CANCEL_ORDER:
        return cancel.carrier_cancelled(session, claimed, h, str(result))
    return []


def _on_failure(session: Any, claimed: ledger.Claimed, h: Handoff, failure: Exception,
                duration_ms: int | None = None
                ) -> list[Any]:
    permanent = isinstance(failure, PermanentError)
    reason = failure.reason if isinstance(failure, PermanentError) else (
        f"{ledger.EXHAUSTED_PREFIX} {claimed.attempts} lần thử: {failure}")
    reason = scrub(reason)
    if isinstance(failure, CancelRefused):
        # the carrier answered the cancel with a Status other than 100: it refused
        return cancel.carrier_refused(session, claimed, h, reason, failure.code or "",
                                      duration_ms)
    # Any other permanent failure of a cancel (HTTP 403/404, a rejected customer key) is no
    # answer: dead for ops to replay once the cause is fixed, the hand-off left where it is,
    # as for a cancel whose retries ran out; nobody is told it was refused.
    ledger.settle_dead(session, claimed, reason, "permanent" if permanent else "exhausted",
                       duration_ms)
    log.warning("job %s %s dead: %s", claimed.id, claimed.kind, reason)
    if claimed.kind == ledger.Kind.POST_ORDER:
        return [handoffs.needs_attention(session, h, reason)]
    return []
