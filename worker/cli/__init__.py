"""The `handoff` command line; `main` is its entry point (pyproject: worker.cli:main)."""

from worker.cli.main import main

__all__ = ["main"]
