"""Closed sets are enums: no production module spells a member of one as a bare string.

An AST scan of worker/ and integrations/ (the enums' own modules and the migrations, which
must keep the values they were written with, excepted). Docstrings, comments and f-string
text are never looked at. Two tiers, to stay free of false alarms:

- ledger values (JobState, JobKind, AttemptOutcome) are flagged where code decides or
  stores with them: a comparison (``x == "dead"``, ``x in ("ok", ...)``), an assignment,
  a default argument, a keyword argument;
- Role, DispatchMode and EventSource values ("ops", "desk", "auto", "worker", "feed", ...)
  are common words that name other things too (CLI commands, process names, usernames,
  OpenAPI tags), so only comparisons with them are flagged.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.domain.enums import (
    AttemptOutcome,
    DeskOutcomeKind,
    DispatchMode,
    EventSource,
    IngestOutcome,
    JobKind,
    JobState,
    Role,
)

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("worker", "integrations")
EXEMPT = {Path("worker/domain/enums.py"), Path("worker/domain/statuses.py")}
EXEMPT_DIRS = (Path("worker/db/migrations"),)
LEDGER_SETS = (JobState, JobKind, AttemptOutcome)
WORD_SETS = (Role, DispatchMode, EventSource, DeskOutcomeKind, IngestOutcome)
LEDGER = {m.value for s in LEDGER_SETS for m in s}
WORDS = {m.value for s in WORD_SETS for m in s}
# The same word for another thing, by file: the health endpoints answer "ok".
ALLOWED = {(Path("worker/web/app.py"), "ok")}


def _constants(node: ast.AST | None) -> Iterator[ast.Constant]:
    """String constants at `node` itself or as elements of a tuple/list/set there."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        for elt in node.elts:
            yield from _constants(elt)


def _compared(tree: ast.AST) -> Iterator[ast.Constant]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                yield from _constants(side)
        elif isinstance(node, ast.Match):
            for case in node.cases:
                for pat in ast.walk(case.pattern):
                    if isinstance(pat, ast.MatchValue):
                        yield from _constants(pat.value)


def _stored(tree: ast.AST) -> Iterator[ast.Constant]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            yield from _constants(node.value)
        elif isinstance(node, ast.arguments):
            for default in (*node.defaults, *node.kw_defaults):
                yield from _constants(default)
        elif isinstance(node, ast.keyword):
            yield from _constants(node.value)


def findings(path: Path, source: str) -> list[str]:
    """Where a closed-set value is spelled out in `source` (as "path:line: 'x' (Enum)")."""
    tree = ast.parse(source)
    rel = path.relative_to(ROOT) if path.is_absolute() else path
    hits = {(c.lineno, c.value) for c in _compared(tree) if c.value in LEDGER | WORDS}
    hits |= {(c.lineno, c.value) for c in _stored(tree) if c.value in LEDGER}
    return [f"{rel}:{line}: {value!r} (use {_members(value)})"
            for line, value in sorted(hits) if (rel, value) not in ALLOWED]


def _members(value: str) -> str:
    return " or ".join(f"{s.__name__}.{m.name}" for s in (*LEDGER_SETS, *WORD_SETS)
                        for m in s if m.value == value)


def _production_files() -> list[Path]:
    files = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if rel in EXEMPT or any(d in rel.parents for d in EXEMPT_DIRS):
                continue
            files.append(path)
    return files


def test_no_production_module_spells_a_closed_set_member_as_a_string() -> None:
    found = [hit for path in _production_files()
             for hit in findings(path, path.read_text(encoding="utf-8"))]
    assert not found, "use the enum member instead:\n" + "\n".join(found)


@pytest.mark.parametrize("code", [
    'if job.state == "dead": pass',
    'q = select(Job).where(Job.kind != "post_order")',
    'ok = outcome in ("transient", "exhausted")',
    'job.state = "pending"',
    'def settle(outcome: str = "permanent") -> None: ...',
    'enqueue(session, kind="notify")',
    'allowed = user.role == "ops"',
    'if mode == "auto": pass',
    'match source:\n    case "webhook": pass',
])
def test_the_scan_catches_a_member_spelled_out(code: str) -> None:
    assert findings(Path("worker/example.py"), code)


@pytest.mark.parametrize("code", [
    '"""A job is "pending", "done" or "dead"."""',
    'def f():\n    """Returns "ok" or "dead"."""',
    'x = JobState.DEAD  # never "dead"',
    'log.info(f"job {kind} is done")',
    'click.echo("ok")',  # a word printed, not a state decided on
    'ov = {"dead": 3}',  # a key of a page's numbers
    'cmd = ["worker", "-Q", "handoff"]',  # a process name: words are only checked in compares
    'FLEET_HEARTBEAT = "worker"',
])
def test_the_scan_leaves_prose_and_other_words_alone(code: str) -> None:
    assert findings(Path("worker/example.py"), code) == []
