"""Desk API tokens: stored only as a hash, bound to one agency, revocable, touched sparingly."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from tests.handoff_cli import handoff as _handoff
from worker.db.engine import Database
from worker.db.models import ApiToken, utcnow
from worker.domain.errors import InvalidInput
from worker.service.access import api_tokens


def test_a_token_is_shown_once_and_only_its_sha256_is_stored(sqlite_db: Database) -> None:
    with sqlite_db.unit_of_work() as s:
        row, token = api_tokens.create(s, "lai-vung", agency_code="000.00.17.H19")
        prefix = row.prefix
    assert token.startswith(f"{prefix}_") and prefix.startswith("hpk_")
    secret = token.split("_", 2)[2]
    assert len(secret) >= 43  # 32 random bytes, URL-safe base64
    with sqlite_db.engine.connect() as conn:
        dump = json.dumps([list(r) for r in conn.execute(text("select * from api_tokens"))],
                          default=str)
    assert secret not in dump and token not in dump
    assert hashlib.sha256(token.encode()).hexdigest() in dump


def test_the_token_authenticates_as_its_name_and_agency(sqlite_db: Database) -> None:
    with sqlite_db.unit_of_work() as s:
        _, token = api_tokens.create(s, "lai-vung", agency_code="000.00.17.H19")
        caller = api_tokens.authenticate(s, token)
    assert caller == api_tokens.Caller("lai-vung", "000.00.17.H19", False)
    assert caller.actor == "api:lai-vung"


@pytest.mark.parametrize("sent", ["", "hpk_", "wrong", "hpk_00000000_" + "A" * 43, "x" * 5000])
def test_an_unknown_token_is_refused(sqlite_db: Database, sent: str) -> None:
    with sqlite_db.unit_of_work() as s:
        api_tokens.create(s, "lai-vung", agency_code="000.00.17.H19")
        found = api_tokens.authenticate(s, sent)
    assert isinstance(found, api_tokens.Refused) and "mã truy cập" in found.reason


def test_a_revoked_token_is_refused_saying_so(sqlite_db: Database) -> None:
    with sqlite_db.unit_of_work() as s:
        _, token = api_tokens.create(s, "lai-vung", agency_code="000.00.17.H19")
        api_tokens.revoke(s, "lai-vung")
        found = api_tokens.authenticate(s, token)
    assert isinstance(found, api_tokens.Refused) and "thu hồi" in found.reason


def test_an_all_agency_token_exists_only_when_asked_for(sqlite_db: Database) -> None:
    with sqlite_db.unit_of_work() as s:
        for agency, everywhere in [(None, False), ("000.00.17.H19", True), ("  ", False)]:
            with pytest.raises(InvalidInput) as err:
                api_tokens.create(s, f"t{everywhere}", agency_code=agency,
                                  all_agencies=everywhere)
            assert err.value.field == "agency"
        _, token = api_tokens.create(s, "ops-tool", agency_code=None, all_agencies=True)
        caller = api_tokens.authenticate(s, token)
    assert isinstance(caller, api_tokens.Caller)
    assert caller.all_agencies and caller.agency_code is None


def test_a_name_is_never_used_twice_even_after_revoke(sqlite_db: Database) -> None:
    with sqlite_db.unit_of_work() as s:
        api_tokens.create(s, "lai-vung", agency_code="A")
        api_tokens.revoke(s, "lai-vung")
        with pytest.raises(InvalidInput) as err:
            api_tokens.create(s, "lai-vung", agency_code="A")
    assert err.value.field == "name"


@pytest.mark.parametrize("name", ["bad\x00name", "bad\ud800", "x" * 81, ""])
def test_a_hostile_name_is_refused_naming_the_field(sqlite_db: Database, name: str) -> None:
    with sqlite_db.unit_of_work() as s, pytest.raises(InvalidInput) as err:
        api_tokens.create(s, name, agency_code="A")
    assert err.value.field == "name"


def test_last_used_is_written_at_most_once_a_minute(sqlite_db: Database) -> None:
    start = utcnow()
    with sqlite_db.unit_of_work() as s:
        _, token = api_tokens.create(s, "lai-vung", agency_code="A")

    def last_used_after(seconds: int) -> object:
        with sqlite_db.unit_of_work() as s:
            api_tokens.authenticate(s, token, now=start + timedelta(seconds=seconds))
        with sqlite_db.unit_of_work() as s:
            return s.scalar(select(ApiToken.last_used_at))

    assert last_used_after(0) == start
    assert last_used_after(30) == start  # a busy minute writes once
    assert last_used_after(61) == start + timedelta(seconds=61)


@pytest.mark.processes  # runs `handoff` in a subprocess
def test_token_commands_add_list_and_revoke(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = _handoff(home, "token", "add", "lai-vung", "--agency", "000.00.17.H19")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("hpk_") and "shown only now" in made.stderr
    refused = _handoff(home, "token", "add", "everyone")
    assert refused.returncode != 0 and "--all-agencies" in refused.stderr
    assert _handoff(home, "token", "add", "everyone", "--all-agencies").returncode == 0
    listed = _handoff(home, "token", "list", "--json")
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["lai-vung"]["agency"] == "000.00.17.H19" and rows["everyone"]["agency"] == "*"
    assert rows["lai-vung"]["prefix"] == token[:12]
    assert token.split("_", 2)[2] not in listed.stdout + _handoff(home, "token", "list").stdout
    assert rows["lai-vung"]["revoked"] == "-"
    assert _handoff(home, "token", "revoke", "lai-vung").returncode == 0
    rows = {r["name"]: r for r in json.loads(_handoff(home, "token", "list", "--json").stdout)}
    assert rows["lai-vung"]["revoked"] != "-" and rows["everyone"]["revoked"] == "-"
    unknown = _handoff(home, "token", "revoke", "nobody")
    assert unknown.returncode != 0 and "không có mã truy cập" in unknown.stderr


@pytest.mark.processes  # runs `handoff` in a subprocess
def test_revoking_a_name_that_is_not_utf8_is_refused_with_the_reason(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _handoff(home, "token", "add", "lai-vung", "--agency", "A").returncode == 0
    out = _handoff(home, "token", "revoke", b"lai-vung\xff")
    assert out.returncode == 2, out.stderr  # refused, not a crash
    assert "Traceback" not in out.stderr
    assert "tên mã truy cập chứa ký tự không hợp lệ" in out.stderr, out.stderr
