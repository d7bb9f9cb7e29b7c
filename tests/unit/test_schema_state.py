"""The embedded default's quick look before a command, a worker, beat or the web starts: a
database migrated to the newest schema and seeded is left alone without loading Alembic; any
other file (new, older, not yet seeded) still goes through the migration and the seed. And
the migrations make the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from tests.handoff_cli import handoff
from worker.db import schema_state
from worker.db.engine import Database
from worker.db.migrate import alembic_config, upgrade


def _version(path: Path) -> set[str]:
    with sqlite3.connect(path) as link:
        return {row[0] for row in link.execute("SELECT version_num FROM alembic_version")}


def test_the_heads_read_from_the_scripts_are_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert schema_state.head_revisions() == set(script.get_heads())


def test_only_a_migrated_and_seeded_file_is_ready(tmp_path: Path) -> None:
    path = tmp_path / "handoff.db"
    assert not schema_state.is_ready(path)  # no file
    path.write_bytes(b"")
    assert not schema_state.is_ready(path)  # an empty database: no tables
    upgrade(f"sqlite:///{path}")
    assert not schema_state.is_ready(path)  # migrated, the one-time seed not run yet
    db = Database(f"sqlite:///{path}")
    try:
        with db.engine.begin() as conn:  # the mark seed_if_fresh leaves
            conn.exec_driver_sql("INSERT INTO deployment_marks (name, at) VALUES (?, ?)",
                                 (schema_state.AGENCIES_SEEDED, "2026-12-06 00:00:00"))
        # while another process holds the database open (its WAL files beside it)
        assert schema_state.is_ready(path)
        with db.engine.begin() as conn:  # a database an older version left
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0013'")
        assert not schema_state.is_ready(path)
    finally:
        db.dispose()


def test_a_ready_file_a_copy_left_readable_by_others_is_made_0600(tmp_path: Path) -> None:
    path = tmp_path / "handoff.db"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as link:
        link.execute("INSERT INTO deployment_marks (name, at) VALUES (?, ?)",
                     (schema_state.AGENCIES_SEEDED, "2026-12-06 00:00:00"))
    path.chmod(0o644)  # e.g. restored from a backup with cp
    assert schema_state.is_ready(path)  # the quick look alone, no engine opens it
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.processes  # the commands as an operator runs them
def test_a_command_on_an_older_database_migrates_it_first(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert handoff(home, "migrate").returncode == 0
    path = home / "handoff.db"
    assert schema_state.is_ready(path)  # `handoff migrate` seeds a fresh database
    command.downgrade(alembic_config(f"sqlite:///{path}"), "0013")  # as if code came since
    assert _version(path) == {"0013"} and not schema_state.is_ready(path)
    out = handoff(home, "user", "list")
    assert out.returncode == 0, out.stderr
    assert _version(path) == schema_state.head_revisions()  # migrated by the command
    with sqlite3.connect(path) as link:  # 0014's index is there again
        assert link.execute("SELECT 1 FROM sqlite_master WHERE name = "
                            "'ix_handoffs_citizen_phone'").fetchone()


def _drift(url: str) -> list:
    """What Alembic's autogenerate finds between the migrated database and the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from worker.db.models import Base

    upgrade(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))
    finally:
        engine.dispose()


def test_the_migrations_make_the_schema_the_models_describe(tmp_path: Path) -> None:
    """An index or column added to a model and not to a migration (or the reverse) would
    reach production only through the migrations: on SQLite, nothing differs."""
    assert _drift(f"sqlite:///{tmp_path / 'handoff.db'}") == []


def test_the_migrations_make_the_schema_the_models_describe_on_postgresql(pg_url: str) -> None:
    assert _drift(pg_url) == []
