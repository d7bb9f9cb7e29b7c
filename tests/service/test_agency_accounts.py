"""Agencies on one route and customer code are one post-office account: one set of keys,
one quota; an agency with orders on their way keeps its account; keys that no longer
decrypt hold a post for a person instead of failing its claim forever; the sweep takes up
a hand-off left waiting for an agency that is enabled."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from tests.agencies import SENDER
from tests.service.world import World
from worker.db.models import Agency, Job
from worker.domain.errors import InvalidInput
from worker.service import agencies
from worker.service.admin import agency_admin
from worker.service.ledger import uow

A, B = "000.00.17.H19", "000.00.21.H19"
KEYS = {"customer_key": "shared-key", "secret_key": "shared-secret-1",
        "push_secret": "shared-push-secret-1"}


def _save(world: World, code: str, adding: bool = False, **fields: object
          ) -> agency_admin.Saved:
    with uow.begin(world.rt) as s:
        return agency_admin.save(s, world.rt.settings, {"code": code, **fields}, "ops",
                                 adding=adding)


def _account(world: World, code: str):  # type: ignore[no-untyped-def]
    with world.rt.db.unit_of_work() as s:
        return agencies.account_of(s, world.rt.settings, code)


def test_one_account_one_set_of_keys_and_one_quota(world: World) -> None:
    _save(world, A, customer_code="C0500", quota_per_second=8, **KEYS)
    _save(world, B, customer_code="C0500")  # joins: takes the account's keys and quota
    assert _account(world, B) == _account(world, A)
    assert _account(world, B).quota_per_second == 8
    with pytest.raises(InvalidInput) as refused:  # a third agency with other keys
        _save(world, "000.00.01.H19", customer_code="C0500",
              customer_key="other-key", secret_key="other-secret")
    assert refused.value.field == "customer_key" and "other-secret" not in str(refused.value)
    # the post office rotated the secret: given once, it changes for the whole account
    _save(world, B, secret_key="shared-secret-2", quota_per_second=5)
    for code in (A, B):
        account = _account(world, code)
        assert (account.secret_key, account.quota_per_second) == ("shared-secret-2", 5)


@pytest.mark.parametrize(("fields", "field"), [
    ({"customer_code": "C0001", **KEYS}, "customer_code"),  # the deployment's own account
    ({"push_secret": "a-push-secret-of-20ch"}, "customer_code"),  # no account of its own
    ({"customer_code": "C0600", **KEYS, "push_secret": "short"}, "push_secret"),
])
def test_refused_account_changes_name_the_field(world: World, fields: dict, field: str
                                                ) -> None:
    with pytest.raises(InvalidInput) as refused:
        _save(world, A, **fields)
    assert refused.value.field == field
    with world.rt.db.unit_of_work() as s:
        assert s.get_one(Agency, A).credentials is None  # nothing stored


def test_an_agency_with_orders_on_their_way_keeps_its_account(world: World) -> None:
    _, hid = world.requested(1)
    world.work()
    assert world.handoff(hid).status == "accepted"
    with pytest.raises(InvalidInput) as refused:
        _save(world, A, customer_code="C0700", **KEYS)
    assert refused.value.code == "agency.orders_in_flight"
    _save(world, A, tel="0912000111")  # anything else still changes


def test_keys_that_do_not_decrypt_hold_the_post_for_a_person(world: World) -> None:
    _save(world, A, customer_code="C0800", **KEYS)
    with world.rt.db.unit_of_work() as s:  # sealed under a key no process has any more
        s.execute(update(Agency).where(Agency.code == A).values(credentials="gAAAAAbroken"))
    _, hid = world.requested(1)
    world.work()
    h = world.handoff(hid)
    assert h.status == "needs_attention" and "HANDOFF_CREDENTIALS_KEY" in h.status_reason
    assert world.carrier.posted_numbers() == []
    with world.rt.db.unit_of_work() as s:
        assert s.scalar(select(Job.state).where(Job.handoff_id == hid,
                                                Job.kind == "post_order")) == "dead"


def test_the_sweep_takes_up_what_waits_for_an_enabled_agency(world: World) -> None:
    with uow.begin(world.rt) as s:
        agency_admin.set_enabled(s, A, False, "ops")
    _, hid = world.requested(1)
    assert world.handoff(hid).status == "needs_attention"
    with world.rt.db.unit_of_work() as s:  # enabled without the take-up (a lost race)
        s.execute(update(Agency).where(Agency.code == A).values(enabled=True))
    world.sweep_and_work()
    assert world.handoff(hid).status == "accepted"
    assert world.carrier.posted_numbers() == [world.handoff(hid).order_number]


def test_sender_block_fields_are_kept_when_only_the_account_changes(world: World) -> None:
    _save(world, "000.00.55.H19", adding=True, name="UBND xã Thử", **SENDER,
          customer_code="C0900", **KEYS)
    assert _account(world, "000.00.55.H19").customer_code == "C0900"
