"""`handoff check`, the containers' healthcheck: it loads only what judging liveness needs."""

from __future__ import annotations

import sys

import click


@click.command()
def check() -> None:
    """Exit non-zero when no worker consumed work recently or a feed cursor went stale."""
    # imported here, not above: `handoff check --help` loads no database (SQLAlchemy)
    from worker.launch.health import liveness, notices
    from worker.settings import get_settings  # (as above: pydantic-settings)

    problems = liveness(get_settings())
    for p in problems:
        click.echo(f"UNHEALTHY: {p}", err=True)
    for note in notices(get_settings()):  # told, not failed: e.g. placeholder area codes
        click.echo(f"CẢNH BÁO: {note}", err=True)
    if problems:
        sys.exit(1)
    click.echo("ok")
