"""`handoff token add|list|revoke`: bearer tokens of the desk API, one per agency."""

from __future__ import annotations

import json

import click

from worker.cli.common import prepare_embedded, runtime
from worker.domain.errors import InvalidInput
from worker.service.access.api_tokens import create, listing, revoke
from worker.service.ledger import uow


@click.group()
def token() -> None:
    """Bearer tokens of the desk API (/api/v1/pickups), each bound to one agency."""


def _fmt(moment: object) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"  # type: ignore[attr-defined]


@token.command("add")
@click.argument("name")
@click.option("--agency", default=None, help="the agency code this token acts for")
@click.option("--all-agencies", is_flag=True,
              help="a token that may act for every agency (only when really needed)")
def token_add(name: str, agency: str | None, all_agencies: bool) -> None:
    """Make a token and print it once (only its hash is kept)."""
    prepare_embedded()
    try:
        with uow.begin(runtime()) as s:
            row, secret = create(s, name, agency_code=agency, all_agencies=all_agencies)
            scope = "all agencies" if row.all_agencies else f"agency {row.agency_code}"
    except InvalidInput as err:
        raise click.BadParameter(err.reason, param_hint=f"'{err.field}'") from None
    click.echo(f"token {name} ({scope}) made; it is shown only now, keep it safe:", err=True)
    click.echo(secret)


@token.command("list")
@click.option("--json", "as_json", is_flag=True)
def token_list(as_json: bool) -> None:
    """Tokens by name, prefix and agency, with when they were made, last used and revoked."""
    with uow.read(runtime()) as s:
        rows = [{"name": r.name, "prefix": r.prefix,
                 "agency": "*" if r.all_agencies else r.agency_code,
                 "created": _fmt(r.created_at), "last_used": _fmt(r.last_used_at),
                 "revoked": _fmt(r.revoked_at)} for r in listing(s)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("no tokens")
    for r in rows:
        click.echo(f"{r['name']:<24} {r['prefix']:<14} {r['agency']:<16} created {r['created']}"
                   f"  last used {r['last_used']}  revoked {r['revoked']}")


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke a token at once: its next call gets 401."""
    try:
        with uow.begin(runtime()) as s:
            row = revoke(s, name)
            when = _fmt(row.revoked_at)
    except InvalidInput as err:
        raise click.BadParameter(err.reason, param_hint=f"'{err.field}'") from None
    click.echo(f"token {name} revoked at {when}")
