"""Whether an embedded SQLite database is already migrated to the newest schema and seeded,
read with the standard library only. Every `handoff` process on the embedded default (each
command, worker, beat and web) asks this first: Alembic and the seeding code (about 0.4 s
of CPU to load and run, the larger part of a short command) load only when the answer is
no. Any doubt (no file, no table, a revision this code does not know, a locked or damaged
file) is a no, and the full path (worker/cli/common.py prepare_embedded) decides as before.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from functools import cache
from pathlib import Path

VERSIONS = Path(__file__).parent / "migrations" / "versions"
# The deployment mark (deployment_marks.name) of the fresh-database seed from
# HANDOFF_AGENCIES (worker/service/admin/agency_admin.py seed_if_fresh): once it is there,
# the seed never runs again.
AGENCIES_SEEDED = "agencies-seeded"
# `revision = '0014'` and `down_revision = '0013'` (None, or a tuple of a merge) of a script
_ASSIGNED = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.*)$", re.M)
_QUOTED = re.compile(r"""['"]([^'"]+)['"]""")


@cache
def head_revisions() -> frozenset[str]:
    """The revisions no migration script builds on (one, while the history is linear)."""
    revisions: set[str] = set()
    below: set[str] = set()
    for script in VERSIONS.glob("*.py"):
        found = dict(_ASSIGNED.findall(script.read_text(encoding="utf-8")))
        if "revision" not in found:
            continue  # __init__.py
        revisions.update(_QUOTED.findall(found["revision"]))
        below.update(_QUOTED.findall(found.get("down_revision", "")))
    return frozenset(revisions - below)


def keep_private(database: Path) -> None:
    """The database file and its -wal and -shm files made 0600 where an older version or a
    copy left them readable by others (when they are ours to change): they hold names,
    phones and addresses."""
    for name in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        with contextlib.suppress(OSError):  # absent, or another user's: left as it is
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)


def is_ready(database: Path) -> bool:
    """The file's schema is at the head revisions and its one-time seed of agencies has
    run: nothing for `migrate` or the seed to do. (Its files are made private first, as
    opening it through worker/db/engine.py would.)"""
    if not database.is_file():
        return False
    keep_private(database)
    try:
        # read only, without creating anything; a writer elsewhere does not block a reader
        # of a database in WAL mode, and a busy one is waited for as the engine would
        link = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            versions = {row[0] for row in link.execute("SELECT version_num FROM alembic_version")}
            seeded = link.execute("SELECT 1 FROM deployment_marks WHERE name = ?",
                                  (AGENCIES_SEEDED,)).fetchone()
        finally:
            link.close()
    except sqlite3.Error:
        return False
    heads = head_revisions()
    return bool(heads) and versions == heads and seeded is not None
