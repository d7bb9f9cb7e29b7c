"""Every trigger at the latest schema, exactly, on SQLite and PostgreSQL: the metric totals
(migration 0011) are kept only while each of them is there, and Alembic's batch mode on
SQLite recreates a table without its triggers, so a migration that drops one fails here."""

from __future__ import annotations

import re

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import text

from worker.db.engine import Database
from worker.db.migrate import upgrade

COUNTED = ("handoffs", "jobs", "sla_breaches", "attempts")
# (trigger, table, event)
SQLITE = {(f"metric_{t}_{s}", t, e) for t in COUNTED
          for s, e in (("insert", "INSERT"), ("delete", "DELETE"), ("change", "UPDATE"))}
POSTGRESQL = {(f"metric_{t}_{s}", t, e) for t in COUNTED
              for s, e in (("rows", "INSERT"), ("rows", "DELETE"), ("change", "UPDATE"))}


def _sqlite_triggers(db: Database) -> set[tuple[str, str, str]]:
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT name, tbl_name, sql FROM sqlite_master "
                                 "WHERE type = 'trigger'")).all()
    found = set()
    for name, table, sql in rows:
        event = re.search(r"\b(?:BEFORE|AFTER|INSTEAD OF)\s+(INSERT|DELETE|UPDATE)\b", sql)
        assert event is not None, sql
        found.add((name, table, event.group(1)))
    return found


def test_every_trigger_is_there_at_head_on_sqlite(sqlite_db: Database) -> None:
    assert _sqlite_triggers(sqlite_db) == SQLITE


def test_a_batch_migration_on_sqlite_drops_the_triggers_of_its_table(
        sqlite_db: Database) -> None:
    """Why the test above matters: a future `batch_alter_table` on a counted table, when
    SQLite cannot alter it in place, leaves no error and no trigger of that table."""
    with sqlite_db.engine.begin() as conn:
        batch = Operations(MigrationContext.configure(conn)).batch_alter_table(
            "handoffs", recreate="always")
        with batch:
            pass
    assert _sqlite_triggers(sqlite_db) == {t for t in SQLITE if t[1] != "handoffs"}


@pytest.mark.services
def test_every_trigger_is_there_at_head_on_postgresql(pg_url: str) -> None:
    upgrade(pg_url)
    db = Database(pg_url)
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT trigger_name, event_object_table, event_manipulation "
                "FROM information_schema.triggers WHERE trigger_schema = current_schema()"
            )).all()
    finally:
        db.dispose()
    assert {tuple(row) for row in rows} == POSTGRESQL
