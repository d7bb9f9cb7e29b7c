"""A tracking page's chunks are sized by time (feeds.ChunkSizes): as many events as fit in
CHUNK_HOLD_S at the rate of the poll's last chunk, growing at most twofold a chunk, never
below CARRIER_CHUNK nor above CARRIER_CHUNK_MAX; and the steps of a page cover its events
once, in order, each moving the cursor to its last event and the page's last to its end."""

from __future__ import annotations

from datetime import UTC, datetime

from worker.domain.model import TrackingEvent
from worker.domain.statuses import Status
from worker.service.flow import feeds
from worker.service.flow.feeds import CARRIER_CHUNK, CARRIER_CHUNK_MAX, CHUNK_HOLD_S, ChunkSizes


def test_fast_chunks_grow_twofold_to_the_most_and_a_slow_one_falls_back():
    sizes = ChunkSizes()
    assert sizes.size == CARRIER_CHUNK
    grown = []
    for _ in range(6):
        sizes.took(sizes.size, CHUNK_HOLD_S / 100)  # each far inside the hold
        grown.append(sizes.size)
    assert grown == [50, 100, 200, 200, 200, 200] and CARRIER_CHUNK_MAX == 200
    sizes.took(200, CHUNK_HOLD_S)  # just the hold: stays
    assert sizes.size == 200
    sizes.took(200, 2 * CHUNK_HOLD_S)  # twice the hold: half as many
    assert sizes.size == 100
    sizes.took(100, 5.0)  # a commit that waited (a ring on a silent broker link)
    assert sizes.size == CARRIER_CHUNK
    sizes.took(0, 0.0)  # an empty page's step says nothing of the rate
    assert sizes.size == CARRIER_CHUNK


def _ev(n: int) -> TrackingEvent:
    return TrackingEvent(event_id=f"{n:024d}", order_number=f"X-{n}/R1", item_code="",
                         occurred_at=datetime(2026, 12, 1, tzinfo=UTC), raw_code=1,
                         raw_text="", status=Status.PICKED_UP, known_code=True)


class _Told(ChunkSizes):
    """Sizes given in turn, whatever the time taken."""

    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.next = iter(sizes)
        self.size = next(self.next)

    def took(self, events: int, seconds: float) -> None:
        self.size = next(self.next, self.size)


def test_a_page_is_cut_as_the_sizes_say_each_event_once_and_the_cursor_on_chunk_ends():
    events = [_ev(n) for n in range(1, 101)]
    steps = list(feeds.chunk_steps(events, "page-end", _Told([10, 40, 25])))
    counts = [count for count, _, _ in steps]
    assert counts == [10, 40, 25, 25]
    applied = [ev for _, apply, _ in steps for ev in apply.keywords["chunk"]]
    assert applied == events
    assert [cursor for _, _, cursor in steps] == [
        events[9].event_id, events[49].event_id, events[74].event_id, "page-end"]


def test_an_empty_page_is_one_empty_step_that_moves_the_cursor():
    assert [(count, cursor) for count, _, cursor in
            feeds.chunk_steps([], "skipped-to", ChunkSizes())] == [(0, "skipped-to")]


def test_a_short_tail_within_the_hold_leaves_the_size_and_one_over_it_shrinks_it():
    sizes = ChunkSizes()
    sizes.size = 200
    sizes.took(5, CHUNK_HOLD_S / 4)  # a page's last 5 events: mostly the transaction's own time
    assert sizes.size == 200
    sizes.took(5, 2 * CHUNK_HOLD_S)  # but slow is slow
    assert sizes.size == CARRIER_CHUNK


def test_a_step_the_poll_stopped_at_starts_the_sizes_again_from_the_fewest():
    sizes = ChunkSizes()
    steps = feeds.chunk_steps([_ev(n) for n in range(1, 301)], "page-end", sizes)
    next(steps)
    sizes.size = 200  # grown meanwhile (say, by an account polled before)
    steps.close()  # `_poll` returned at that step: not committed
    assert sizes.size == CARRIER_CHUNK
