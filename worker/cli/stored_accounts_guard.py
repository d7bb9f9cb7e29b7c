"""Start-up guard, second half: the agencies' stored accounts judged by today's rules."""

from __future__ import annotations

import sys

import click
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from worker.db.engine import Database
from worker.domain.text import safe_display
from worker.secrets_check import ALLOW_SWITCH
from worker.service.agencies import key_guard
from worker.service.agencies.agency_secrets import public_values_admitted, stored_agency_problems
from worker.service.agencies.vault import Credentials
from worker.service.ledger import uow
from worker.settings import Settings


def _stored(settings: Settings) -> list[tuple[str, Credentials | None]]:
    """Every agency account stored (None: it does not open with the key), or a refusal
    (exit 2) when the database cannot be read: a guard that cannot look must not pass."""
    db = Database(settings.resolved_database_url())
    try:
        with uow.read(db) as session:
            if not inspect(session.connection()).has_table("agencies"):
                return []  # not migrated yet: nothing stored
            return list(key_guard.stored_accounts(session, settings))
    except SQLAlchemyError as err:
        cause = str(getattr(err, "orig", None) or err).splitlines()[0]
        click.echo("refusing to start: the agencies' stored accounts could not be read to "
                   f"check their secrets ({type(err).__name__}: {safe_display(cause)})",
                   err=True)
        sys.exit(2)
    finally:
        db.dispose()


def refuse_weak_stored_accounts(settings: Settings) -> None:
    """Off the embedded default, stop worker, beat or web while an agency's stored account
    holds a public example value, a placeholder, or a short or low-entropy push secret
    (named by agency and field, never by value). Accounts that do not open with the key
    are named in a warning: their posts are held and their pushes answered 401 until fixed."""
    if settings.on_embedded_default:
        return
    stored = _stored(settings)
    opened = [(code, creds) for code, creds in stored if creds is not None]
    problems = stored_agency_problems(settings, opened)
    if problems:
        click.echo(
            "refusing to start: these agencies' stored post-office accounts are not fit for "
            "production (values are never printed):\n  "
            + "\n  ".join(safe_display(str(p)) for p in problems) + "\n"
            "Give each its real credentials: `handoff agency update CODE "
            "--credentials-stdin`.", err=True)
        sys.exit(2)
    unopened = [code for code, creds in stored if creds is None]
    if unopened:
        click.echo("warning: the stored accounts of agencies "
                   + safe_display(", ".join(unopened), max_len=1000)
                   + " do not open with HANDOFF_CREDENTIALS_KEY (not checked; their posts "
                   "are held)", err=True)
    admitted = public_values_admitted(settings, opened)
    if admitted:
        click.echo(f"warning: {ALLOW_SWITCH}=true: running on public example values of "
                   + safe_display(", ".join(admitted), max_len=1000)
                   + " (staging against the simulators only)", err=True)
