"""A carrier adapter replaced after its account changed (new credentials or quota) is not
closed under the threads that may still be calling through it: it is closed once
RETIRED_KEPT newer replacements came after it, or when the runtime closes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.fakes import ListBell
from worker.db.engine import Database
from worker.domain.model import CarrierAccount
from worker.service.runtime import RETIRED_KEPT, Factories, Runtime
from worker.settings import Settings


class Adapter:
    def __init__(self, account: CarrierAccount) -> None:
        self.account = account
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_a_replaced_adapter_stays_open_until_later_ones_retire_it(
        sqlite_db: Database, tmp_path: Path) -> None:
    made: list[Adapter] = []

    def factory(settings: Settings, account: CarrierAccount, limiter: object) -> Adapter:
        made.append(Adapter(account))
        return made[-1]

    rt = Runtime(Settings(home=tmp_path, database_url=sqlite_db.url), sqlite_db,
                 factories=Factories(carriers={"ngsp": factory}), bell=ListBell(),
                 limiter=object())  # type: ignore[arg-type]
    account = CarrierAccount("ngsp", "C0101", "key", "secret-1")
    first = rt.carrier_for(account)
    assert rt.carrier_for(account) is first  # the same account: the same adapter
    rotated = rt.carrier_for(replace(account, secret_key="secret-2"))
    assert rotated is not first and not made[0].closed  # a thread may be mid-call on it
    for n in range(RETIRED_KEPT):
        rt.carrier_for(replace(account, secret_key=f"secret-{n + 3}"))
    assert made[0].closed and not made[1].closed
    rt.close()
    assert all(a.closed for a in made)
