"""Imports inside functions are the exception: each says why (a slow or heavy library, a
process that alone needs it), on its line or the line above. lint-imports checks the rest."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("worker", "integrations")


def unexplained_local_imports(source: str) -> list[int]:
    """Line numbers of imports below module level with no comment on their lines or the
    line above (imports under `if TYPE_CHECKING:` and other module-level blocks are fine)."""
    lines = source.splitlines()
    found: list[int] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, ast.Import | ast.ImportFrom):
                first = max(child.lineno - 2, 0)  # the line above, 0-based
                end = child.end_lineno or child.lineno
                if not any("#" in line for line in lines[first:end]):
                    found.append(child.lineno)
            visit(child, in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(ast.parse(source), False)
    return found


def test_every_function_level_import_says_why() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for line in unexplained_local_imports(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "function-level imports without a comment saying why"


def test_the_scan_finds_an_unexplained_import_and_accepts_explained_ones() -> None:
    source = (
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from pathlib import Path\n"
        "def bare():\n"
        "    import json\n"
        "def said_above():\n"
        "    # heavy: only when this command runs\n"
        "    import csv\n"
        "def said_on_line():\n"
        "    import csv  # heavy\n"
        "class Holder:\n"
        "    def method(self):\n"
        "        from collections import (\n"
        "            OrderedDict,\n"
        "        )\n"
    )
    assert unexplained_local_imports(source) == [6, 14]
