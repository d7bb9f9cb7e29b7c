"""The second lane of `make chaos`: the scenarios that mostly wait go beside the busy ones
(never all of them, never alone), its rows come back whole, and a second lane that dies
leaves failed rows for its scenarios, not missing ones."""

from __future__ import annotations

from pathlib import Path

from chaos import lanes
from chaos.measure import Row
from chaos.scenarios import SCENARIOS


def test_waiting_scenarios_go_to_the_second_lane_only_beside_busy_ones():
    waiting = sorted(n for n, s in SCENARIOS.items() if s.mostly_waits)
    assert 5 in waiting  # the five-minute outage is what the lane is for
    here, beside = lanes.split(sorted(SCENARIOS), 2)
    assert beside == waiting and sorted(here + beside) == sorted(SCENARIOS)
    assert lanes.split(sorted(SCENARIOS), 1) == (sorted(SCENARIOS), [])
    assert lanes.split([5], 2) == ([5], [])  # nothing to overlap with: one lane
    assert lanes.split([1, 2], 2) == ([1, 2], [])


def test_a_second_lanes_rows_come_back_whole(tmp_path: Path):
    row = Row("Post office down (503)", 300, 0, 0, 0, 0, float("inf"), notes="n", number=5,
              elapsed_s=371.0, failed="no order created")
    lane = lanes.SideLane.__new__(lanes.SideLane)
    lane.numbers, lane.out = [5], tmp_path / "rows.json"
    lanes.write_rows(lane.out, [row], ["a marker in x.log"])

    class Ended:
        def wait(self) -> int:
            return 1

    lane.proc = Ended()  # type: ignore[assignment]
    rows, found = lane.rows()
    assert rows == [row] and not rows[0].passed() and found == ["a marker in x.log"]


def test_a_second_lane_that_dies_leaves_failed_rows():
    lane = lanes.SideLane([5, 7], short=True, pii=False, keep=False)
    lane.proc.kill()
    rows, found = lane.rows()
    assert [r.number for r in rows] == [5, 7] and found == []
    assert all(not r.passed() and "second lane" in r.notes for r in rows)
    assert not lane.out.exists()
