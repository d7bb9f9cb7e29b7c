"""`handoff agency ...`: agencies added, changed, listed, shown, disabled, enabled, imported
and their credentials re-encrypted; credentials go in only through stdin or hidden prompts
and never come out (output, JSON, errors, logs).

Most tests run the command group in-process on a test's runtime (click's CliRunner, the
runtime handed in as the context object); the `processes` ones run `handoff` itself.
"""

from __future__ import annotations

import json
import logging
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select

from integrations.onestop.mapping import read_item
from simulators.carrier.app import SimConfig, serve_in_thread
from tests.fakes import ListBell
from tests.handoff_cli import handoff as _handoff
from tests.onestop_items import numbered
from tests.support import forked_cli
from worker.bootstrap import build_runtime
from worker.cli.agencies import agency
from worker.db.engine import Database
from worker.db.models import Agency, Handoff
from worker.domain.enums import EventSource, Route
from worker.domain.model import Address, CarrierOrder, Contact
from worker.domain.statuses import Direction, Status
from worker.service import agencies
from worker.service.agencies.vault import VaultError
from worker.service.flow.ingest import ingest_item
from worker.service.ledger import uow
from worker.service.runtime import Runtime
from worker.settings import Settings

pytestmark = pytest.mark.flows  # the CLI on a database, a simulator thread

MARKER = "MARKER-SECRET-7f3a"
CODE = "000.00.99.H19"  # not one of the agencies sqlite_db seeds
SENDER = ["--name", "UBND xã Thử Nghiệm", "--tel", "02773000001", "--address", "Số 1",
          "--province", "82", "--ward", "30226"]
CREDS = {"customer_key": f"{MARKER}-key", "secret_key": MARKER, "push_secret": f"{MARKER}-p"}
KEY1, KEY2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@dataclass
class Cli:
    db: Database
    home: Path
    bell: ListBell
    key: str = KEY1
    outputs: list[str] | None = None

    def runtime(self, **settings: Any) -> Runtime:
        s = Settings(home=self.home, database_url=self.db.url, credentials_key=SecretStr(self.key),
                     **settings)
        return build_runtime(s, self.db, bell=self.bell)

    def __call__(self, *args: str, stdin: str = "", key: str | None = None) -> Result:
        if key is not None:
            self.key = key
        result = CliRunner().invoke(agency, list(args), obj=self.runtime(), input=stdin)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.output)
        assert "Traceback" not in result.output
        if self.outputs is not None:
            self.outputs.append(result.output)
        return result

    def row(self, code: str = CODE) -> Agency | None:
        with self.db.unit_of_work() as s:
            found = s.get(Agency, code)
            if found is not None:
                s.expunge(found)
            return found

    def account(self, code: str = CODE, key: str | None = None) -> Any:
        s = Settings(home=self.home, database_url=self.db.url,
                     credentials_key=SecretStr(key or self.key))
        with self.db.unit_of_work() as session:
            return agencies.account_of(session, s, code)


@pytest.fixture
def cli(sqlite_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
        ) -> Iterator[Cli]:
    caplog.set_level(logging.DEBUG)
    found = Cli(sqlite_db, tmp_path, ListBell(), outputs=[])
    yield found
    # nothing any command printed or logged holds a credential
    for text in [*(found.outputs or []), caplog.text]:
        assert MARKER not in text


def _add(cli: Cli, *extra: str, code: str = CODE, creds: dict[str, str] | None = CREDS
         ) -> Result:
    args = ["add", code, *SENDER, "--route", "B", "--customer-code", "C0042", *extra]
    if creds is None:
        return cli(*[a for a in args if a not in ("B", "--route", "--customer-code", "C0042")])
    return cli(*args, "--credentials-stdin", stdin=json.dumps(creds))


def test_add_reads_credentials_from_stdin_and_show_list_json_never_print_them(cli: Cli) -> None:
    added = _add(cli, "--sla", "accept_within_minutes=30", "--quota", "5",
                 "--dispatch", "desk")
    assert added.exit_code == 0 and f"đã thêm đơn vị {CODE}" in added.output
    account = cli.account()
    assert (account.route, account.customer_code, account.customer_key, account.secret_key,
            account.push_secret, account.quota_per_second) == (
        Route.LGSP, "C0042", f"{MARKER}-key", MARKER, f"{MARKER}-p", 5.0)
    shown = cli("show", CODE)
    assert shown.exit_code == 0
    for words in ("B – qua nền tảng LGSP của tỉnh", "C0042", "khóa tài khoản:    đã đặt",
                  "5 yêu cầu/giây", "accept_within_minutes=30", "Tại bàn một cửa",
                  "hồ sơ chờ đơn vị:  0", "02773000001"):
        assert words in shown.output, shown.output
    as_json = json.loads(cli("show", CODE, "--json").output)
    assert as_json["own_account"] is True and as_json["credentials"] == "đã đặt"
    assert not {"customer_key", "secret_key", "push_secret"} & set(as_json)
    listed = cli("list")
    assert CODE in listed.output and "riêng C0042" in listed.output
    everyone = json.loads(cli("list", "--json").output)
    assert {a["code"] for a in everyone} >= {CODE, "000.00.17.H19"}
    # a stored token is the encrypted form, not the text
    row = cli.row()
    assert row is not None and MARKER not in (row.credentials or "")


@pytest.mark.parametrize("option", ["--secret-key", "--customer-key", "--push-secret",
                                    "--credentials"])
def test_a_secret_on_the_command_line_is_refused_and_never_repeated(cli: Cli,
                                                                    option: str) -> None:
    refused = cli("add", CODE, *SENDER, option, MARKER)
    assert refused.exit_code == 2
    assert "không bao giờ nhận từ dòng lệnh" in refused.output
    assert cli.row() is None


def test_update_changes_only_what_is_given(cli: Cli) -> None:
    assert _add(cli, "--sla", "accept_within_minutes=30").exit_code == 0
    updated = cli("update", CODE, "--tel", "0912345678", "--ward", "30226",
                  "--sla", "deliver_within_days=3")
    assert updated.exit_code == 0 and "tel" in updated.output and "sla" in updated.output
    row = cli.row()
    assert row is not None
    assert (row.sender_tel, row.name, row.province_code, row.route) == (
        "0912345678", "UBND xã Thử Nghiệm", "82", Route.LGSP)
    assert row.sla == {"accept_within_minutes": 30.0, "deliver_within_days": 3.0}
    assert cli.account().secret_key == MARKER  # no --credentials-stdin: kept
    assert "không có gì thay đổi" in cli("update", CODE, "--tel", "0912345678").output
    # only the push secret given: the others stay
    pushed = cli("update", CODE, "--credentials-stdin",
                 stdin='{"push_secret": "new-push-secret-0001"}')
    assert pushed.exit_code == 0 and "credentials" in pushed.output
    account = cli.account()
    assert (account.secret_key, account.push_secret) == (MARKER, "new-push-secret-0001")
    cleared = cli("update", CODE, "--clear-sla", "--sla", "silent_hours=12")
    assert cleared.exit_code == 0
    assert cli.row().sla == {"silent_hours": 12.0}  # type: ignore[union-attr]
    assert cli("update", "KHONG.CO", "--tel", "0912345678").exit_code == 2


@pytest.mark.parametrize(("args", "stdin", "said"), [
    (["--tel", "12345"], None, "tel: "),
    (["--route", "C"], None, "route: chỉ nhận"),
    (["--route", "B"], None, "route: tuyến B (LGSP) cần tài khoản riêng"),
    (["--customer-code", "C1"], None, "secret_key: có mã khách hàng thì phải có"),
    (["--province", "99"], None, "agency.provinceCode: "),
    (["--sla", "fast=1"], None, "sla: không có giới hạn 'fast'"),
    (["--sla", "silent_hours=-1"], None, "sla.silent_hours: phải lớn hơn 0"),
    (["--quota", "nhiều"], None, "quota_per_second: phải là một số"),
    (["--customer-code", "C1", "--credentials-stdin"], '{"secret_key": "' + MARKER,
     "credentials: stdin không phải JSON hợp lệ"),
    (["--customer-code", "C1", "--credentials-stdin"], f'{{"password": "{MARKER}"}}',
     "credentials: trường không có: password"),
    (["--customer-code", "C1", "--credentials-stdin"],
     json.dumps({"customer_key": "k", "secret_key": f"{MARKER}\x07"}),
     "secret_key: có ký tự điều khiển"),
    (["--customer-code", "C1", "--credentials-stdin"], json.dumps([MARKER]),
     "credentials: cần một object JSON"),
])
def test_a_refusal_names_the_field_in_vietnamese_exit_2_nothing_stored(
        cli: Cli, args: list[str], stdin: str | None, said: str) -> None:
    out = cli("add", CODE, *SENDER, *args, stdin=stdin or "")
    assert out.exit_code == 2, out.output
    assert said in out.output, out.output
    assert cli.row() is None


def test_disable_then_enable_takes_up_the_hand_offs_that_waited(cli: Cli) -> None:
    assert _add(cli, creds=None).exit_code == 0
    off = cli("disable", CODE)
    assert off.exit_code == 0 and "đã tắt" in off.output
    rt = cli.runtime()
    with uow.begin(rt) as s:
        got = ingest_item(s, read_item(numbered(1, agency__code=CODE)), EventSource.ONESTOP_FEED,
                          rt.settings)
    with cli.db.unit_of_work() as s:
        assert s.get_one(Handoff, got.handoff_id).status == Status.NEEDS_ATTENTION
    assert "chờ 1" in cli("list").output
    assert "hồ sơ chờ đơn vị:  1" in cli("show", CODE).output
    cli.bell.take()
    on = cli("enable", CODE)
    assert on.exit_code == 0 and "1 hồ sơ đang chờ đơn vị này được xử lý tiếp" in on.output
    with cli.db.unit_of_work() as s:
        assert s.get_one(Handoff, got.handoff_id).status == Status.REQUESTED
    assert cli.bell.take()  # its post rung after the commit
    assert "(từ trước)" in cli("enable", CODE).output
    assert cli("disable", "KHONG.CO").exit_code == 2


def test_list_names_agencies_that_hand_offs_wait_for_but_that_do_not_exist(cli: Cli) -> None:
    rt = cli.runtime()
    with uow.begin(rt) as s:
        ingest_item(s, read_item(numbered(1, agency__code=CODE)), EventSource.ONESTOP_FEED,
                    rt.settings)
    listed = cli("list")
    assert f"1 hồ sơ chờ đơn vị {CODE}, chưa có trong danh sách" in listed.output
    added = _add(cli, creds=None)
    assert "1 hồ sơ đang chờ đơn vị này được xử lý tiếp" in added.output


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


IMPORTED = {
    "000.00.98.H19": {"name": "UBND xã Một", "tel": "02773000002", "address": "Số 2",
                      "province_code": "82", "ward_code": "30226", "route": "A"},
    "000.00.97.H19": {"name": "UBND xã Hai", "tel": "02773000003", "address": "Số 3",
                      "province_code": "82", "ward_code": "30226", "route": "B",
                      "customer_code": "C0097", **CREDS},
}


def test_import_adds_updates_and_tells_the_fields_never_the_values(cli: Cli,
                                                                  tmp_path: Path) -> None:
    first = cli("import", str(_write(tmp_path / "a.json", IMPORTED)))
    assert first.exit_code == 0, first.output
    assert "000.00.98.H19        thêm" in first.output
    assert "2 đơn vị: đã thêm 2" in first.output
    assert cli.account("000.00.97.H19").secret_key == MARKER
    changed = {**IMPORTED, "000.00.98.H19": {**IMPORTED["000.00.98.H19"], "tel": "0912345678"},
               "000.00.97.H19": {**IMPORTED["000.00.97.H19"], "secret_key": "rotated-2"}}
    as_list = [{"code": c, **body} for c, body in changed.items()]
    dry = cli("import", str(_write(tmp_path / "b.json", as_list)), "--dry-run")
    assert dry.exit_code == 0 and "chạy thử: chưa lưu gì" in dry.output
    assert "000.00.98.H19        cập nhật: tel" in dry.output
    assert "000.00.97.H19        cập nhật: credentials" in dry.output
    assert cli.row("000.00.98.H19").sender_tel == "02773000002"  # type: ignore[union-attr]
    real = cli("import", str(tmp_path / "b.json"))
    assert real.exit_code == 0 and "đã cập nhật 2" in real.output
    assert cli.account("000.00.97.H19").secret_key == "rotated-2"
    again = cli("import", str(tmp_path / "b.json"))
    assert again.output.count("không đổi") >= 2
    assert "000.00.98.H19        không đổi" in again.output


@pytest.mark.parametrize(("data", "said"), [
    ({**IMPORTED, "000.00.96.H19": {"name": "X", "tel": "123", "address": "a",
                                    "province_code": "82", "ward_code": "30226"}},
     "000.00.96.H19.tel: "),
    ({**IMPORTED, "000.00.96.H19": {"name": "X", "tel": "0912345678", "address": "a",
                                    "province_code": "82", "ward_code": "30226",
                                    "secrett_key": MARKER}},
     "000.00.96.H19.secrett_key: trường không có"),
    ({**IMPORTED, "000.00.96.H19": "không phải object"}, "000.00.96.H19: mỗi đơn vị"),
    ([{"name": "không có mã"}], "#1.code: "),
    ("chuỗi", "bad.json: phải là object"),
])
def test_an_invalid_import_changes_nothing_and_names_the_field(
        cli: Cli, tmp_path: Path, data: object, said: str) -> None:
    out = cli("import", str(_write(tmp_path / "bad.json", data)))
    assert out.exit_code == 2 and said in out.output, out.output
    with cli.db.unit_of_work() as s:  # not even the good entries before the bad one
        assert not set(s.scalars(select(Agency.code))) & set(IMPORTED)


def test_an_unreadable_import_file_is_told_plainly(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"a": "' + MARKER, encoding="utf-8")
    broken = cli("import", str(tmp_path / "broken.json"))
    assert broken.exit_code == 2 and "broken.json: không phải JSON hợp lệ (dòng 1" in broken.output
    (tmp_path / "latin.json").write_bytes(b'{"\xff": 1}')
    assert "không phải văn bản UTF-8" in cli("import", str(tmp_path / "latin.json")).output
    assert "không đọc được" in cli("import", str(tmp_path / "missing.json")).output


AREA = Address("Trung tâm PVHCC", "82", "30226", carrier_area=(82, 82098))
CITIZEN = Contact("Nguyễn Thị Hồng", "0912345678",
                  Address("Số 12 Hàng Bài", "1", "70", carrier_area=(1, 1004)))


def test_rotate_key_keeps_every_account_working_once_the_old_key_is_gone(
        cli: Cli, tmp_path: Path) -> None:
    assert _add(cli, "--route", "A", "--customer-code", "C0042").exit_code == 0
    assert _add(cli, code="000.00.97.H19",
                creds={**CREDS, "customer_key": "lgsp-key-97"}).exit_code == 0
    # 1. the new key first, the old one still listed; 2. rotate
    rotated = cli("rotate-key", key=f"{KEY2},{KEY1}")
    assert rotated.exit_code == 0 and "đã mã hóa lại 2 tài khoản" in rotated.output
    assert "KHÓA_MỚI,KHÓA_CŨ" in rotated.output
    # 3. the old key dropped: every account still opens
    assert cli.account(key=KEY2).secret_key == MARKER
    assert cli.account("000.00.97.H19", key=KEY2).customer_key == "lgsp-key-97"
    with pytest.raises(VaultError):  # and the old key alone opens nothing any more
        cli.account(key=KEY1)
    wrong = cli("update", CODE, "--credentials-stdin",
                stdin='{"push_secret": "x-push-secret-0001"}', key=KEY1)
    assert wrong.exit_code == 2 and "không mở được thông tin tài khoản" in wrong.output
    garbage = cli("rotate-key", key="not-a-fernet-key")
    assert garbage.exit_code == 2 and "HANDOFF_CREDENTIALS_KEY" in garbage.output
    # a post through the carrier simulator with each rotated account goes through
    accounts = {f"{MARKER}-key": [MARKER, "C0042"], "lgsp-key-97": [MARKER, "C0042"]}
    sim, stop = serve_in_thread(SimConfig(seed=3, accounts=accounts))
    try:
        cli.key = KEY2
        rt = cli.runtime(carrier_base_url=sim, lgsp_token_url=f"{sim}lgsp/token",
                         lgsp_base_url=f"{sim}lgsp")
        for n, code in enumerate((CODE, "000.00.97.H19"), 1):
            account = cli.account(code)
            sender = Contact("UBND xã Thử Nghiệm", "02773000001", AREA)
            order = CarrierOrder(f"{code}-291126-{n:04d}/R1", Direction.RESULT_DELIVERY,
                                 sender, CITIZEN, description="Trả kết quả")
            assert rt.carrier_for(account).post_order(order).already_existed is False
        rt.close()
    finally:
        stop()


# --- `handoff` itself, in its own process ---------------------------------------------


def _handoff_env(home: Path, **env: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    return {**out, "HANDOFF_HOME": str(home), **env}


@pytest.mark.processes  # runs `handoff migrate` in a subprocess
def test_migrate_seeds_a_fresh_database_from_handoff_agencies_once(tmp_path: Path) -> None:
    config = {"000.00.95.H19": {"name": "UBND xã Năm", "tel": "02773000005",
                                "email": "nam@example.gov.vn", "address": "Số 5",
                                "province_code": "82", "ward_code": "30226",
                                "dispatch": "desk"}}
    env = _handoff_env(tmp_path, HANDOFF_AGENCIES=json.dumps(config))

    def migrate() -> subprocess.CompletedProcess[str]:
        return forked_cli.run(["migrate"], env)

    first = migrate()
    assert first.returncode == 0, first.stderr
    assert "agencies: đã thêm 1 đơn vị lần đầu: 000.00.95.H19" in first.stdout
    db = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    with db.unit_of_work() as s:
        row = s.get_one(Agency, "000.00.95.H19")
        assert (row.name, row.dispatch, row.route, row.sender_email) == (
            "UBND xã Năm", "desk", Route.NGSP, "nam@example.gov.vn")
        before = row.updated_at
    second = migrate()
    assert second.returncode == 0 and "agencies: không thêm gì" in second.stdout
    with db.unit_of_work() as s:
        assert s.get_one(Agency, "000.00.95.H19").updated_at == before
        assert list(s.scalars(select(Agency.code))) == ["000.00.95.H19"]
    db.dispose()


@pytest.mark.processes  # runs `handoff agency` in a subprocess
def test_the_real_command_takes_credentials_from_stdin_and_refuses_them_on_argv(
        tmp_path: Path) -> None:
    refused = _handoff(tmp_path, "agency", "add", CODE, *SENDER, "--secret-key", MARKER)
    assert refused.returncode == 2 and MARKER not in refused.stdout + refused.stderr
    added = _handoff(tmp_path, "agency", "add", CODE, *SENDER, "--route", "B",
                     "--customer-code", "C0042", "--credentials-stdin",
                     stdin=json.dumps(CREDS))
    assert added.returncode == 0, added.stderr
    shown = _handoff(tmp_path, "agency", "show", CODE, "--json")
    assert json.loads(shown.stdout)["own_account"] is True
    for out in (added, shown, _handoff(tmp_path, "agency", "list")):
        assert MARKER not in out.stdout + out.stderr


def _read_until(fd: int, wanted: bytes, seen: bytearray, times: int = 1,
                timeout: float = 60) -> None:
    """Read the terminal until `wanted` has been seen `times` times in all."""
    deadline = time.monotonic() + timeout
    while seen.count(wanted) < times:
        assert time.monotonic() < deadline, f"no {wanted!r} in {bytes(seen)!r}"
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            chunk = b""
        assert chunk, f"ended before {wanted!r}: {bytes(seen)!r}"
        seen += chunk


@pytest.mark.processes  # runs `handoff agency` on a terminal
def test_at_a_terminal_the_credentials_are_asked_without_echo(tmp_path: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: `handoff agency add` on a real terminal
        os.execve(sys.executable, [sys.executable, "-m", "worker.cli", "agency", "add", CODE,
                                   *SENDER, "--route", "B", "--customer-code", "C0042",
                                   "--credentials-stdin"], _handoff_env(tmp_path))
    seen = bytearray()
    asked = "(để trống: giữ nguyên): ".encode()
    for n, answer in enumerate((f"{MARKER}-key", MARKER, ""), 1):
        _read_until(fd, asked, seen, times=n)  # the whole prompt is out: echo is off by now
        os.write(fd, answer.encode() + b"\n")
    _read_until(fd, "đã thêm".encode(), seen)
    assert os.waitpid(pid, 0)[1] == 0
    os.close(fd)
    assert MARKER.encode() not in seen  # never echoed
    db = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    with db.unit_of_work() as s:
        account = agencies.account_of(s, Settings(home=tmp_path), CODE)
        assert account is not None and account.secret_key == MARKER
    db.dispose()
