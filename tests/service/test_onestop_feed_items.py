"""The feed's items come parsed from the port: a refused one is kept for a person, one whose
reading hit a bug is quarantined alone, and the valid ones and the cursor go on."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from integrations.onestop.mapping import read_item
from tests.onestop_items import changed, numbered
from tests.service.world import World
from worker.db.models import Cursor, Handoff, Job, Receipt, StatusLogEntry
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


def _mixed(base: int) -> list[dict]:
    """Items a feed page may hold together, dossiers numbered from `base`."""
    def n(k: int) -> int:
        return base + k
    return [
        changed(numbered(n(8)), id=f"hof_c{n(8)}"),  # corrects one refused on an earlier page
        numbered(n(1)),  # new
        numbered(n(1)),  # the same item again
        changed(numbered(n(1)), id=f"hof_b{n(1)}"),  # the same dossier, another item: ignored
        numbered(n(2), citizen__phone="12"),  # refused: kept for a person
        changed(numbered(n(2)), id=f"hof_c{n(2)}"),  # its correction takes the refused one's place
        numbered(n(3)),
        changed(numbered(n(3)), id=f"hof_w{n(3)}", type="handoff_cancelled", citizen=...),
        changed(numbered(n(3)), id=f"hof_r{n(3)}"),  # requested again: a new generation
        numbered(n(4), agency__code="000.00.99.H99"),  # an agency not declared: it waits
        numbered(n(5), id=...),  # no id
        numbered(n(6), type="pickup_requested"),
        numbered(n(7)),
    ]


def _earlier(base: int) -> list[dict]:
    """An item refused on a page before `_mixed(base)`'s (corrected there)."""
    return [numbered(base + 8, citizen__phone="12")]


def _state(world: World, base: int) -> dict[str, list]:
    """What the items of `_earlier(base)` and `_mixed(base)` left, dossiers named by their
    place in it."""
    local = {numbered(base + k)["dossierCode"]: f"D{k}" for k in range(1, 9)}
    ids = {raw["id"] for raw in _earlier(base) + _mixed(base) if "id" in raw}
    with world.rt.db.unit_of_work() as s:
        handoffs = {h.id: h for h in s.scalars(select(Handoff).where(
            Handoff.dossier_code.in_(local)))}

        def generation(handoff_id: int | None) -> int:
            return handoffs[handoff_id].generation if handoff_id else 0

        got: dict[str, list] = {
            "handoffs": sorted((local[h.dossier_code], h.direction, h.generation, h.status,
                                bool(h.order_number), h.status_reason)
                               for h in handoffs.values()),
            "log": sorted((local[e.dossier_code], generation(e.handoff_id), e.status or "",
                           e.applied, e.reason_code)
                          for e in s.scalars(select(StatusLogEntry).where(
                              StatusLogEntry.dossier_code.in_(local)))),
            "jobs": sorted((local[handoffs[j.handoff_id].dossier_code],
                            handoffs[j.handoff_id].generation, j.kind, j.state)
                           for j in s.scalars(select(Job).where(Job.handoff_id.in_(handoffs)))),
            "receipts": [s.scalar(select(func.count()).select_from(Receipt).where(
                Receipt.external_id.in_(ids)))],
        }
    return got


def test_a_page_taken_together_leaves_what_one_item_a_page_leaves(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """The page-level ingest (flow/ingest.py ingest_page) against the same items taken one
    page each: the same hand-offs, log rows and jobs, for every kind of item together."""
    together, alone = _mixed(0), _earlier(100) + _mixed(100)
    pages = {None: OnestopPage([read_item(raw) for raw in _earlier(0)], "p0"),
             "p0": OnestopPage([read_item(raw) for raw in together], "p1")}
    for i, raw in enumerate(alone):
        pages[f"p{i + 1}"] = OnestopPage([read_item(raw)], f"p{i + 2}")
    world.onestop.fetch_handoffs = (  # type: ignore[method-assign]
        lambda after, limit=500: pages.get(after, OnestopPage([], after)))
    with caplog.at_level(logging.WARNING, logger="worker.service.flow.isolation"):
        polls = [poll_onestop(world.rt) for _ in range(len(alone) + 3)]  # a short page ends
    assert polls == [1, len(together)] + [1] * len(alone) + [0]  # a poll

    assert "taken again one by one" not in caplog.text  # the page was taken together
    page, one_by_one = _state(world, 0), _state(world, 100)
    assert page == one_by_one
    statuses = {(code, gen): status for code, _d, gen, status, _o, _r in page["handoffs"]}
    assert statuses == {("D1", 1): "requested", ("D2", 1): "requested",
                        ("D3", 1): "cancelled", ("D3", 2): "requested",
                        ("D4", 1): "needs_attention", ("D6", 1): "requested",
                        ("D7", 1): "requested", ("D8", 1): "requested"}
    assert [k for k in page["jobs"] if k[2] == "post_order"] == [
        (d, gen, "post_order", state) for d, gen, state in (
            ("D1", 1, "pending"), ("D2", 1, "pending"), ("D3", 1, "done"),
            ("D3", 2, "pending"), ("D6", 1, "pending"), ("D7", 1, "pending"),
            ("D8", 1, "pending"))]
    assert page["receipts"] == [len({raw["id"] for raw in together if "id" in raw}) + 1]
