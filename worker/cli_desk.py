"""Desk and people commands of `handoff`: call the courier, cancel, who waits; logins."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

from worker.cli_ops import clean_arg

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

T = TypeVar("T")


def register(main: click.Group) -> None:
    """Add the desk and user groups to the main `handoff` group."""
    main.add_command(pickup)
    main.add_command(user)


@click.group()
def pickup() -> None:
    """Desk actions: call the courier, cancel, list hand-offs waiting for a courier."""


@pickup.command("request")
@click.argument("codes", nargs=-1, required=True)
@click.option("--agency", default=None, callback=clean_arg, help="only dossiers of this agency")
@click.option("--json", "as_json", is_flag=True)
def pickup_request(codes: tuple[str, ...], agency: str | None, as_json: bool) -> None:
    """Call the courier ("Gọi bưu tá") for one or more dossier codes."""
    from worker.bootstrap import runtime
    from worker.service.desk import request_pickups

    outcomes = request_pickups(runtime(), list(codes), actor="cli", agency_code=agency)
    _print_outcomes(outcomes, as_json)
    if any(o.outcome == "refused" for o in outcomes):
        sys.exit(2)


@pickup.command("cancel")
@click.argument("code")
@click.option("--agency", default=None, callback=clean_arg)
@click.option("--json", "as_json", is_flag=True)
def pickup_cancel(code: str, agency: str | None, as_json: bool) -> None:
    """Cancel a hand-off whose courier has not yet taken it."""
    from worker.bootstrap import runtime
    from worker.service.desk import cancel

    outcome = cancel(runtime(), code, actor="cli", agency_code=agency)
    _print_outcomes([outcome], as_json)
    if outcome.outcome == "refused":
        sys.exit(2)


@pickup.command("pending")
@click.option("--agency", default=None, callback=clean_arg)
@click.option("--json", "as_json", is_flag=True)
def pickup_pending(agency: str | None, as_json: bool) -> None:
    """Hand-offs waiting for the desk to call the courier, oldest first."""
    from worker.bootstrap import runtime
    from worker.service.desk import waiting_list

    with runtime().db.unit_of_work() as s:
        waiting = waiting_list(s, agency)
    rows = waiting.items
    if waiting.truncated:  # on stderr: the --json list on stdout stays a plain list
        click.echo(f"chỉ hiện {len(rows)} hồ sơ chờ lâu nhất trên tổng số {waiting.total}",
                   err=True)
    if as_json:
        click.echo(json.dumps([{**r.__dict__, "ready_at": r.ready_at.isoformat()}
                               for r in rows], ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("không có hồ sơ nào chờ gọi bưu tá")
    for r in rows:
        hours, minutes = divmod(r.waited_seconds // 60, 60)
        click.echo(f"{r.dossier_code:<28} {r.direction:<16} chờ {hours}h{minutes:02d}  "
                   f"{r.procedure_name[:40]:<40} {r.place}")


def _print_outcomes(outcomes: list, as_json: bool) -> None:  # type: ignore[type-arg]
    if as_json:
        click.echo(json.dumps([o.as_dict() for o in outcomes], ensure_ascii=False, indent=1))
        return
    for o in outcomes:
        click.echo(f"{o.dossier_code:<28} {o.label}" + (f": {o.reason}" if o.reason else ""))


@click.group()
def user() -> None:
    """People who log in to the desk and ops pages."""


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _refuse_argv_password(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value is not None:
        _fail("passwords are never taken from the command line (shell history, process "
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
        _fail("no terminal to prompt for the password: use --password-stdin")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _users_do(work: Callable[[Session], T]) -> T:
    """`work` on the users in one transaction; a refusal is told plainly (exit 2)."""
    from worker.bootstrap import runtime
    from worker.cli import _prepare_embedded
    from worker.service.users import UserError

    _prepare_embedded()
    try:
        with runtime().db.unit_of_work() as s:
            return work(s)
    except UserError as err:
        _fail(str(err))


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["ops", "desk"]), required=True)
@click.option("--agency", default=None, callback=clean_arg, help="desk staff: their agency code")
@click.option("--name", "full_name", default="", help="full name shown on the pages")
@_password_stdin
@_no_argv_password
def user_add(username: str, role: str, agency: str | None, full_name: str,
             password_stdin: bool) -> None:
    """Create a user, or reset their password, role and agency (ending their sessions)."""
    from worker.service.users import add_user

    password = _read_password(password_stdin)
    _users_do(lambda s: add_user(s, username, password, role, agency, full_name))
    click.echo(f"user {username} ({role}) saved")


@user.command("passwd")
@click.argument("username")
@_password_stdin
@_no_argv_password
def user_passwd(username: str, password_stdin: bool) -> None:
    """Set a new password; every open session of the user ends."""
    from worker.service.users import set_password

    password = _read_password(password_stdin)
    ended = _users_do(lambda s: set_password(s, username, password))
    click.echo(f"password of {username} changed; {ended} session(s) ended")


@user.command("deactivate")
@click.argument("username")
def user_deactivate(username: str) -> None:
    """Refuse this user's logins from now on and end their open sessions."""
    from worker.service.users import set_active

    ended = _users_do(lambda s: set_active(s, username, False))
    click.echo(f"user {username} deactivated; {ended} session(s) ended")


@user.command("activate")
@click.argument("username")
def user_activate(username: str) -> None:
    """Let a deactivated user log in again (with their existing password)."""
    from worker.service.users import set_active

    _users_do(lambda s: set_active(s, username, True))
    click.echo(f"user {username} activated")


@user.command("list")
@click.option("--json", "as_json", is_flag=True)
def user_list(as_json: bool) -> None:
    """Users, their role, agency and whether they may log in (never a password hash)."""
    from worker.service.users import list_users

    users = _users_do(list_users)
    if as_json:
        click.echo(json.dumps([u.__dict__ for u in users], ensure_ascii=False, indent=1))
        return
    for u in users:
        click.echo(f"{u.username:<20} {u.role:<5} {u.agency_code or '-':<16} "
                   f"{'active' if u.active else 'INACTIVE':<8} {u.full_name}")
