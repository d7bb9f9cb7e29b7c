"""among: `column IN values` on both databases, and on PostgreSQL one statement text
whatever the list's length (the point of sending it as one array)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import Column, Enum, Integer, MetaData, String, Table, event, select
from sqlalchemy.dialects import postgresql

from worker.db.engine import Database
from worker.db.inserts import insert_new
from worker.db.models import Receipt
from worker.db.models.base import UTCDateTime
from worker.db.sets import among


def test_among_finds_the_rows_of_the_values_given(database: Database):
    with database.unit_of_work() as s:
        for n in range(1, 6):
            insert_new(s, Receipt, {"source": "onestop-item", "external_id": f"hof_{n}"})
    texts: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "WHERE receipts.external_id" in statement:
            texts.append(statement)

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        with database.unit_of_work() as s:
            def found(names: list[str]) -> set[str]:
                return set(s.scalars(select(Receipt.external_id).where(
                    among(s, Receipt.external_id, names))))

            ids = {r.external_id: r.id for r in s.scalars(select(Receipt))}
            assert found(["hof_2", "hof_4", "hof_9"]) == {"hof_2", "hof_4"}
            assert found(["hof_5"]) == {"hof_5"}
            assert found([]) == set()
            # a value longer than the column (120) is not cut to it and matched
            long = "x" * 120
            insert_new(s, Receipt, {"source": "onestop-item", "external_id": long})
            assert found([long + "y", "x" * 119]) == set()
            assert found([long]) == {long}
            by_id = set(s.scalars(select(Receipt.external_id).where(
                among(s, Receipt.id, {ids["hof_1"], ids["hof_3"]}))))
            assert by_id == {"hof_1", "hof_3"}
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)
    if database.engine.dialect.name == "postgresql":
        assert len(texts) == 5 and len(set(texts)) == 1, texts  # any number of values: one text


def test_only_plain_integer_and_string_columns_become_an_array() -> None:
    # an enum's values are converted to names, a decorated type's by its own code: an array
    # of them as given would compare the wrong things, so those columns keep IN
    pg = postgresql.dialect()
    session: Any = SimpleNamespace(get_bind=lambda: SimpleNamespace(dialect=pg))
    t = Table("t", MetaData(), Column("n", Integer), Column("s", String(9)),
              Column("e", Enum("a", "b", name="e")), Column("at", UTCDateTime))
    shown = {c: str(among(session, t.c[c], []).compile(dialect=pg)) for c in ("n", "s", "e", "at")}
    assert "ANY" in shown["n"] and "ANY" in shown["s"] and "VARCHAR[]" in shown["s"], shown
    assert "IN" in shown["e"] and "IN" in shown["at"] and "ANY" not in shown["e"], shown
