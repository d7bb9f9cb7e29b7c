"""What a code path sends to PostgreSQL and how the server runs it, for the benchmarks.

`captured(engine)` records the SELECT statements (with their bound parameters) that
SQLAlchemy sends while a real service function or page runs; `explain` runs EXPLAIN ANALYZE
of one of those exact statements and names the indexes it uses and the tables it reads
whole; `without_index` drops an index for a baseline and creates it again afterwards from
its own definition (pg_get_indexdef); `without_index_scans` turns the planner's index
scans off for the database meanwhile (a baseline for a query whose index is a primary
key). Used by bench/ops_queries.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event, text

BIG_ROWS = 10_000  # a sequential scan of a table at least this big is worth naming
READS = re.compile(r"\s*SELECT\b.*\bFROM\b", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Plan:
    sql: str
    ms: float  # the server's execution time under EXPLAIN ANALYZE
    indexes: tuple[str, ...]  # every index the plan reads, in plan order
    seq_scans: tuple[str, ...]  # big tables read whole, each as "name (rows)"
    small_scans: tuple[str, ...]  # tables under BIG_ROWS read whole

    def summary(self) -> str:
        parts = [f"index {', '.join(dict.fromkeys(self.indexes))}"] if self.indexes else []
        parts += [f"**Seq Scan {t}**" for t in self.seq_scans]
        parts += [f"Seq Scan {t} (small)" for t in dict.fromkeys(self.small_scans)]
        return "; ".join(parts) or "no table read"


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements reading a table that go through `engine` meanwhile, as sent."""
    seen: list[tuple[str, Any]] = []

    def hook(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
             executemany: bool) -> None:
        if READS.match(statement):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", hook)


def table_rows(engine: Engine) -> dict[str, int]:
    """Rows per table of the public schema, as the planner knows them (after ANALYZE)."""
    with engine.connect() as conn:
        return {name: int(rows) for name, rows in conn.exec_driver_sql(
            "SELECT relname, reltuples FROM pg_class WHERE relkind = 'r' "
            "AND relnamespace = 'public'::regnamespace")}


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def explain(engine: Engine, statement: str, parameters: Any, rows: dict[str, int]) -> Plan:
    """EXPLAIN (ANALYZE, FORMAT JSON) of the statement with the same parameters (a custom
    plan, as the driver's first executions of it get)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
        found = cursor.fetchone()
        assert found is not None
        doc = found[0][0]
        raw.rollback()
    finally:
        raw.close()
    nodes = list(_nodes(doc["Plan"]))
    seq = [n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"]
    return Plan(" ".join(statement.split()), float(doc["Execution Time"]),
                tuple(n["Index Name"] for n in nodes if "Index Name" in n),
                tuple(f"{t} ({rows.get(t, 0):,} rows)" for t in seq
                      if rows.get(t, 0) >= BIG_ROWS),
                tuple(t for t in seq if rows.get(t, 0) < BIG_ROWS))


@contextmanager
def without_index(engine: Engine, name: str) -> Iterator[None]:
    """The index dropped meanwhile, then built again exactly as it was defined."""
    with engine.begin() as conn:
        ddl = conn.execute(text("SELECT pg_get_indexdef(CAST(:n AS regclass))"),
                           {"n": name}).scalar_one()
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(ddl)


@contextmanager
def without_index_scans(engine: Engine) -> Iterator[None]:
    """Every new connection to the database plans without index scans meanwhile; the pool
    is emptied before and after so each side gets its own connections."""
    name = engine.url.database
    scans = ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for setting in scans:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET {setting} = off')
    engine.dispose()
    try:
        yield
    finally:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for setting in scans:
                conn.exec_driver_sql(f'ALTER DATABASE "{name}" RESET {setting}')
        engine.dispose()
