"""`handoff user add|passwd|deactivate|activate|list`: people who log in to the pages."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

from worker.cli.common import clean_arg, fail, prepare_embedded, runtime
from worker.service.access.users import (
    ROLES,
    UserError,
    add_user,
    list_users,
    set_active,
    set_password,
)
from worker.service.ledger import uow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

T = TypeVar("T")


@click.group()
def user() -> None:
    """People who log in to the desk and ops pages."""


def _refuse_argv_password(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value is not None:
        fail("passwords are never taken from the command line (shell history, process "
             "list); type it at the prompt or pipe it with --password-stdin")


# --password is kept only to refuse it clearly instead of "no such option"
_no_argv_password = click.option("--password", hidden=True, expose_value=False,
                                 callback=_refuse_argv_password, is_eager=True)
_password_stdin = click.option("--password-stdin", is_flag=True,
                               help="read the password from the first line of stdin")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1].removesuffix("\r") if line.endswith("\n") else line
    if not sys.stdin.isatty():
        fail("no terminal to prompt for the password: use --password-stdin")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _users_do(work: Callable[[Session], T]) -> T:
    """`work` on the users in one transaction; a refusal is told plainly (exit 2)."""
    prepare_embedded()
    try:
        with uow.begin(runtime()) as s:
            return work(s)
    except UserError as err:
        fail(str(err))


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--agency", default=None, callback=clean_arg, help="desk staff: their agency code")
@click.option("--name", "full_name", default="", help="full name shown on the pages")
@_password_stdin
@_no_argv_password
def user_add(username: str, role: str, agency: str | None, full_name: str,
             password_stdin: bool) -> None:
    """Create a user, or reset their password, role and agency (ending their sessions)."""
    password = _read_password(password_stdin)
    _users_do(lambda s: add_user(s, username, password, role, agency, full_name))
    click.echo(f"user {username} ({role}) saved")


@user.command("passwd")
@click.argument("username")
@_password_stdin
@_no_argv_password
def user_passwd(username: str, password_stdin: bool) -> None:
    """Set a new password; every open session of the user ends."""
    password = _read_password(password_stdin)
    ended = _users_do(lambda s: set_password(s, username, password))
    click.echo(f"password of {username} changed; {ended} session(s) ended")


@user.command("deactivate")
@click.argument("username")
def user_deactivate(username: str) -> None:
    """Refuse this user's logins from now on and end their open sessions."""
    ended = _users_do(lambda s: set_active(s, username, False))
    click.echo(f"user {username} deactivated; {ended} session(s) ended")


@user.command("activate")
@click.argument("username")
def user_activate(username: str) -> None:
    """Let a deactivated user log in again (with their existing password)."""
    _users_do(lambda s: set_active(s, username, True))
    click.echo(f"user {username} activated")


@user.command("list")
@click.option("--json", "as_json", is_flag=True)
def user_list(as_json: bool) -> None:
    """Users, their role, agency and whether they may log in (never a password hash)."""
    users = _users_do(list_users)
    if as_json:
        click.echo(json.dumps([u.__dict__ for u in users], ensure_ascii=False, indent=1))
        return
    for u in users:
        click.echo(f"{u.username:<20} {u.role:<5} {u.agency_code or '-':<16} "
                   f"{'active' if u.active else 'INACTIVE':<8} {u.full_name}")
