"""insert_new: a key taken once, the second time refused without breaking the transaction,
with RETURNING and, for a SQLite older than 3.35, without it (the savepoint's way)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from worker.db.engine import Database
from worker.db.inserts import insert_new
from worker.db.models import Receipt


@pytest.mark.parametrize("returning", [True, False], ids=["returning", "old-sqlite"])
def test_a_key_is_written_once_and_the_transaction_goes_on(sqlite_db: Database,
                                                           monkeypatch, returning: bool):
    monkeypatch.setattr(sqlite_db.engine.dialect, "insert_returning", returning)
    with sqlite_db.unit_of_work() as s:
        assert insert_new(s, Receipt, {"source": "onestop-item", "external_id": "hof_1"})
        assert not insert_new(s, Receipt, {"source": "onestop-item", "external_id": "hof_1"})
        assert insert_new(s, Receipt, {"source": "onestop-item", "external_id": "hof_2"})
    with sqlite_db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Receipt)) == 2
        stamped = s.scalars(select(Receipt.received_at)).all()
    assert all(at is not None for at in stamped)  # the column's default, as with the ORM
