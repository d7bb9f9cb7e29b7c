"""Desk and people commands of `handoff`: call the courier, cancel, who waits; logins."""

from __future__ import annotations

import json
import sys

import click


def register(main: click.Group) -> None:
    """Add the desk and user groups to the main `handoff` group."""
    main.add_command(pickup)
    main.add_command(user)


@click.group()
def pickup() -> None:
    """Desk actions: call the courier, cancel, list hand-offs waiting for a courier."""


@pickup.command("request")
@click.argument("codes", nargs=-1, required=True)
@click.option("--agency", default=None, help="only dossiers of this agency")
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
@click.option("--agency", default=None)
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
@click.option("--agency", default=None)
@click.option("--json", "as_json", is_flag=True)
def pickup_pending(agency: str | None, as_json: bool) -> None:
    """Hand-offs waiting for the desk to call the courier, oldest first."""
    from worker.bootstrap import runtime
    from worker.service.desk import pending

    with runtime().db.unit_of_work() as s:
        rows = pending(s, agency)
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


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["ops", "desk"]), required=True)
@click.option("--agency", default=None, help="desk staff: their agency code")
@click.option("--name", "full_name", default="", help="full name shown on the pages")
@click.password_option("--password", help="at least 8 characters (prompted if omitted)")
def user_add(username: str, role: str, agency: str | None, full_name: str,
             password: str) -> None:
    """Create a user or reset their password and role."""
    from worker.bootstrap import runtime
    from worker.cli import _prepare_embedded
    from worker.service.users import add_user

    _prepare_embedded()
    try:
        with runtime().db.unit_of_work() as s:
            add_user(s, username, password, role, agency, full_name)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    click.echo(f"user {username} ({role}) saved")
