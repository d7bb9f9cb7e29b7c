"""Replaying a dead post never creates a second order at the carrier."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from tests.integration.flow import wait_until
from worker.db.engine import Database
from worker.db.models import Handoff, Job
from worker.stack import Stack


def test_replayed_post_of_an_order_the_carrier_already_has_is_recognised(tmp_path):
    with Stack(home=tmp_path / "home", speed=60.0) as stack:  # the courier comes after ~1 min
        db = Database(f"sqlite:///{stack.home / 'handoff.db'}")
        stack.start_all()
        stack.onestop_admin("handoffs", {"count": 3, "type": "result_ready"})
        wait_until(db, lambda c: c.get("accepted") == 3, 60, "3 accepted", stack)
        # The carrier has the 3 orders. Make our side forget it, as when every reply to a
        # post was lost until the attempts ran out: the post rows are dead and the
        # hand-offs wait for a person.
        with db.unit_of_work() as s:
            s.execute(update(Job).where(Job.kind == "post_order").values(
                state="dead", last_error="không nhận được trả lời của bưu điện"))
            s.execute(update(Handoff).values(status="needs_attention"))
            dead = list(s.scalars(select(Job.id).where(Job.state == "dead")))
        assert len(dead) == 3
        out = stack.run("replay", "--all-dead", "--json")
        assert out.returncode == 0, out.stderr
        assert all(r["replayed"] for r in json.loads(out.stdout))
        wait_until(db, lambda c: c.get("accepted") == 3, 60, "3 accepted again", stack)
        stats = stack.carrier_admin("stats")
        assert stats["orders"] == 3 and stats["duplicates"] == 0
        assert all(o["created"] == 1 and o["posts"] == 2
                   for o in stats["orders_by_number"].values())
        assert stats["repeat_posts"] == 3  # each replay was answered 101 (already exists)
