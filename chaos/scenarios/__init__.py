"""Every scenario of the chaos suite, by number: each `sNN_name.py` module named in NAMES
defines SCENARIO (chaos.measure.Scenario). A module not written yet is left out."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from chaos.measure import Row, Scenario
from chaos.servers import pg_bin, redis_bin

NAMES = (
    "s01_workers_killed",
    "s02_redis_restarted",
    "s03_redis_down_arrivals",
    "s04_postgres_restarted",
    "s05_post_office_down",
    "s06_lost_replies",
    "s07_half_open_broker",
    "s08_poison_work",
    "s09_duplicated_inbound",
    "s10_many_workers_and_beats",
    "s11_clock_skew",
    "s12_disk_full",
    "s13_province_faults",
    "s14_quota_state_lost",
    "s15_pushes_and_feed_racing",
    "s16_network_partition",
)

# what a scenario may need (its `needs`): None when the machine has it, else why not
NEEDS: dict[str, Callable[[], str | None]] = {
    "pg_bin": lambda: None if pg_bin() else "PostgreSQL server programs (initdb) not installed",
    "redis_bin": lambda: None if redis_bin() else "redis-server not installed",
}


def _load() -> dict[int, Scenario]:
    """The modules named in NAMES, and any other sNN_ module found beside them (listed
    here or not, no scenario written is left out)."""
    found: dict[int, Scenario] = {}
    here = Path(__file__).parent
    others = sorted(p.stem for p in here.glob("s[0-9][0-9]_*.py") if p.stem not in NAMES)
    for name in (*NAMES, *others):
        try:
            module = importlib.import_module(f"chaos.scenarios.{name}")
            scenario: Scenario = module.SCENARIO
        except ModuleNotFoundError as exc:
            if exc.name != f"chaos.scenarios.{name}":
                scenario = _broken(name, exc)
            else:
                continue  # not written yet
        except Exception as exc:  # one broken module is a failed row, not a dead suite
            scenario = _broken(name, exc)
        found[scenario.number] = scenario
    return dict(sorted(found.items()))


def _broken(name: str, error: Exception) -> Scenario:
    def run(*_: object) -> Row:
        raise RuntimeError(f"chaos/scenarios/{name}.py does not load: "
                           f"{type(error).__name__}: {error}")

    return Scenario(number=int(name[1:3]), name=name, full={}, short={}, run=run, needs=())


SCENARIOS: dict[int, Scenario] = _load()


def missing(scenario: Scenario) -> str | None:
    """Why the machine cannot stage the scenario, or None."""
    for need in scenario.needs:
        check = NEEDS.get(need)
        why = check() if check else f"unknown need {need!r}"
        if why:
            return why
    return None
