"""The feed's items come parsed from the port: a refused one is kept for a person, one whose
reading hit a bug is quarantined alone, and the valid ones and the cursor go on."""

from __future__ import annotations

from sqlalchemy import select

from integrations.onestop.mapping import read_item
from tests.onestop_items import numbered
from tests.service.world import World
from worker.db.models import Cursor, Handoff, StatusLogEntry
from worker.domain.model import OnestopItem, OnestopPage
from worker.domain.statuses import Status
from worker.service.flow.feeds import ONESTOP_CURSOR, poll_onestop


def test_a_page_of_parsed_items_is_taken_one_by_one(world: World) -> None:
    bug = OnestopItem("hof_bug", "000.00.17.H19-291126-9001", ZeroDivisionError("a bug"))
    refused, valid = read_item(numbered(2, citizen__phone="12")), read_item(numbered(3))
    pages = {None: OnestopPage([bug, refused, valid], "c_3")}
    world.onestop.fetch_handoffs = (  # type: ignore[method-assign]
        lambda after, limit=500: pages.get(after, OnestopPage([], after)))
    assert poll_onestop(world.rt) == 3
    with world.rt.db.unit_of_work() as s:
        rows = {h.source_item_id: h for h in s.scalars(select(Handoff))}
        notes = list(s.scalars(select(StatusLogEntry.notes).where(
            StatusLogEntry.handoff_id.is_(None))))
        cursor = s.get_one(Cursor, ONESTOP_CURSOR).value
    assert set(rows) == {"hof_t002", "hof_t003"} and cursor == "c_3"
    assert rows["hof_t002"].status == Status.NEEDS_ATTENTION
    assert rows["hof_t002"].status_reason.startswith("citizen.phone:")
    assert rows["hof_t003"].status == Status.REQUESTED
    (note,) = notes  # the quarantine's row: which item, and the error's type only
    assert note.startswith("không xử lý được item hof_bug") and "ZeroDivisionError" in note
