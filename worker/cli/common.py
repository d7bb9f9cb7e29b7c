"""What every `handoff` command shares: safe arguments, times, terminal lines, the runtime."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NoReturn

import click

from worker.db import schema_state
from worker.domain.errors import InvalidInput
from worker.domain.moments import EARLIEST, as_utc
from worker.domain.text import clean_text, safe_display
from worker.settings import get_settings

if TYPE_CHECKING:
    from worker.service.runtime import Runtime

ARG_MAX = 200  # longer than any code, status or time a person types
SINCE_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def runtime() -> Runtime:
    """The process's runtime (database, adapters), built on first use."""
    # The composition root wires the database, the adapters and the bell: imported here so
    # that the commands which never touch them (secrets, simulate, check) do not load it.
    from worker.bootstrap import runtime as build

    return build()


def prepare_embedded() -> None:
    """The embedded default (SQLite under HANDOFF_HOME) makes its home and migrates itself."""
    s = get_settings()
    s.home.mkdir(parents=True, exist_ok=True)
    if s.resolved_database_url().startswith("sqlite"):
        if not s.database_url and schema_state.is_ready(s.home / "handoff.db"):
            return  # migrated and seeded already: Alembic and the seed code stay unloaded
        from worker.db.migrate import upgrade  # Alembic loads only when a migration may run

        upgrade(s.resolved_database_url())
        _seed_agencies()


def _seed_agencies() -> None:
    """A fresh embedded database gets its agencies from HANDOFF_AGENCIES, as `handoff
    migrate` does elsewhere (once: later starts change nothing)."""
    from sqlalchemy.exc import IntegrityError  # (as above: only on the embedded default)

    from worker.bootstrap import runtime  # (as above)
    from worker.domain.errors import InvalidInput  # (as above)
    from worker.service.admin import agency_admin  # (as above)
    from worker.service.ledger import uow  # (as above)

    rt = runtime()
    try:
        with uow.begin(rt) as session:
            agency_admin.seed_if_fresh(session, rt.settings)
    except IntegrityError:
        pass  # worker, beat and web started together: another one seeded it just now
    except InvalidInput as err:
        fail(f"HANDOFF_AGENCIES: {err.field or ''}: {err.reason}")


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def fail(message: str) -> NoReturn:
    """A refusal told plainly on stderr, exit 2."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def clean_arg(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: text from the command line made safe (no NUL, control characters
    or undecodable bytes reach the database), or a usage error naming the reason."""
    if value is None:
        return None
    try:
        return clean_text(value, param.name or "", max_len=ARG_MAX) or None
    except InvalidInput as err:
        raise click.BadParameter(err.reason) from None


def parse_moment(text: str, hint: str) -> datetime:
    """An ISO time (no zone = UTC) as a storable UTC moment, clamped to what a datetime can
    hold (0001-01-01T00:00+07:00 has no UTC value)."""
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        raise click.BadParameter("use an ISO time", param_hint=hint) from None


def parse_since(value: str | None) -> datetime | None:
    """'30m', '2h', '1d' before now, or an ISO time; never overflows however large."""
    if not value:
        return None
    amount, unit = value[:-1], value[-1]
    if unit in SINCE_UNITS and amount.isascii() and amount.isdigit():
        try:
            # (20 digits overflow any unit already: a longer number is cut, not parsed)
            return datetime.now(UTC) - timedelta(**{SINCE_UNITS[unit]: int(amount[:20])})
        except OverflowError:  # further back than a datetime reaches: since the beginning
            return EARLIEST
    return parse_moment(value, "--since")


def echo_line(text: str) -> None:
    """One line for a terminal: stored text's control characters (an ANSI escape from a
    feed) are shown as U+FFFD, never sent to the terminal."""
    click.echo(safe_display(text, max_len=2000))
