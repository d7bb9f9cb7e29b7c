"""Every job kind is complete: a label, a metrics system, a handler with its ordering rule,
and a payload that survives the trip through the ledger row's JSON; rows written before
payloads were typed still load, and are written back with the same keys."""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from typing import Any, get_type_hints

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.db.models import Job
from worker.domain.enums import JOB_KIND_VI, JobKind
from worker.domain.job_payloads import CancelPayload, NotifyPayload, PostPayload, PushPayload
from worker.domain.statuses import Direction, PostalEvent, Status
from worker.service.jobs import HANDLERS, handler_for, must_wait
from worker.service.jobs.base import System
from worker.service.views.metrics import system_of

PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
STEPS = ("must_wait", "prepare", "perform", "settle", "settle_failure")

# Payloads exactly as the code before typed payloads wrote them (handoffs.queue_push,
# cancel.request_cancel and its joins, sla.queue_notifications, posts with none).
PUSH = {"event_id": "ev_3f2a", "dossier_code": "000.00.17.H19-261126-0001",
        "direction": "result_delivery", "status": "accepted", "item_code": None,
        "carrier_code": 100, "carrier_text": "bưu điện nhận đơn",
        "occurred_at": "2026-01-05T09:30:00+07:00", "note": ""}
STORED: list[tuple[JobKind, dict[str, Any]]] = [
    (JobKind.POST_ORDER, {}),
    (JobKind.PUSH_STATUS, PUSH),
    (JobKind.PUSH_STATUS, {**PUSH, "status": "in_transit", "item_code": "EL123456789VN",
                           "occurred_at": "2026-01-04T02:30:00.123456+00:00", "late": True}),
    (JobKind.PUSH_STATUS, {**PUSH, "status": "withdrawal_refused", "carrier_code": None,
                           "carrier_text": "", "note": "yêu cầu rút hồ sơ bị từ chối: x"}),
    (JobKind.CANCEL_ORDER, {"why": "gọi nhầm", "source": "desk", "withdrawal": None}),
    (JobKind.CANCEL_ORDER, {"why": "rút yêu cầu từ hệ thống một cửa", "source": "onestop",
                            "withdrawal": "hof_w1"}),
    (JobKind.CANCEL_ORDER, {"why": "rút yêu cầu từ hệ thống một cửa", "source": "webhook",
                            "withdrawal": "hof_w2", "withdrawals": ["hof_w1", "hof_w2"]}),
    (JobKind.NOTIFY, {"rule": "push_failed", "message_id": "sla_7_push_failed"}),
]


@pytest.mark.parametrize("kind", list(JobKind))
def test_every_job_kind_has_a_label_a_metrics_system_a_handler_and_an_ordering_rule(
        kind: JobKind) -> None:
    handler = handler_for(kind)
    assert handler is not None and handler.KIND is kind
    assert JOB_KIND_VI.get(kind)
    assert system_of(kind) == handler.SYSTEM and handler.SYSTEM in set(System)
    assert all(callable(getattr(handler, step)) for step in STEPS)
    assert isinstance(handler.REPLAY_WHEN_FINAL, bool)


def test_the_registry_holds_exactly_the_job_kinds() -> None:
    assert list(HANDLERS) == list(JobKind)


@pytest.mark.parametrize("kind", list(JobKind))
@PROPERTY
@given(data=st.data())
def test_every_job_kinds_payload_round_trips_through_json(kind: JobKind,
                                                         data: st.DataObject) -> None:
    payload_type = HANDLERS[kind].PAYLOAD
    payload = data.draw(_whole(payload_type))
    stored = json.loads(json.dumps(payload.to_json()))  # as the JSON column keeps it
    assert payload_type.from_json(stored) == payload
    assert payload_type.from_json(stored).to_json() == stored


def _whole(cls: Any) -> st.SearchStrategy[Any]:
    """Instances of dataclass `cls` with every field drawn, those with defaults too (builds
    alone leaves defaults be), dataclass fields alike."""
    hints = get_type_hints(cls)
    return st.builds(cls, **{f.name: _whole(hints[f.name]) if is_dataclass(hints[f.name])
                             else st.from_type(hints[f.name]) for f in fields(cls)})


@pytest.mark.parametrize(("kind", "stored"), STORED)
def test_a_stored_payload_loads_and_is_written_back_with_the_same_keys(
        kind: JobKind, stored: dict[str, Any]) -> None:
    payload_type = HANDLERS[kind].PAYLOAD
    assert payload_type.from_json(stored).to_json() == stored


def test_a_push_payload_reads_as_the_push_it_was_queued_for() -> None:
    payload = PushPayload.from_json({**PUSH, "status": "withdrawal_refused", "late": True})
    push = payload.sent_with(None)
    assert push.status is PostalEvent.WITHDRAWAL_REFUSED and push.late
    assert push.direction is Direction.RESULT_DELIVERY and push.item_code is None
    assert push.occurred_at == datetime(2026, 1, 5, 2, 30, tzinfo=UTC)
    assert push.carrier_code == 100 and push.carrier_text == "bưu điện nhận đơn"
    assert payload.sent_with("EL123456789VN").item_code == "EL123456789VN"  # known by now
    assert PushPayload.from_json(PUSH).sent_with(None).status is Status.ACCEPTED


def test_a_cancel_from_before_withdrawals_loads_and_answers_nobody() -> None:
    old = CancelPayload.from_json({"why": "gọi nhầm", "source": "desk"})
    assert old.withdrawal is None and old.answers() == []


def test_a_joined_withdrawal_is_answered_last_and_once() -> None:
    first = CancelPayload.from_json({"why": "w", "source": "onestop", "withdrawal": "hof_w1"})
    assert first.answers() == ["hof_w1"]
    both = first.joined("hof_w2")
    assert both.to_json() == {"why": "w", "source": "onestop", "withdrawal": "hof_w2",
                              "withdrawals": ["hof_w1", "hof_w2"]}
    assert both.joined("hof_w1").answers() == ["hof_w2", "hof_w1"]


def test_payloads_without_fields_are_the_empty_object() -> None:
    assert PostPayload().to_json() == {}
    assert NotifyPayload.from_json({"rule": "r", "message_id": "m"}).to_json() == {
        "rule": "r", "message_id": "m"}


def test_a_job_of_a_kind_no_handler_knows_never_waits() -> None:
    # the runner claims it and settles it dead; its ordering rule is none
    unknown = Job(id=1, kind="fax_order", handoff_id=1)
    assert must_wait(None, unknown, datetime.now(UTC)) is False  # type: ignore[arg-type]
