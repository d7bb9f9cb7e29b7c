"""`handoff agency` against a wrong HANDOFF_CREDENTIALS_KEY and hostile import files (issue 13
items 4 and 9): refused with exit 2 and a plain message, before anything is written.

The issue's own cases run `handoff` as a subprocess; the variants run the same command
group in-process (click's CliRunner) on a runtime of the test's database.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import delete, select

from tests.fakes import ListBell
from tests.support import forked_cli
from worker.bootstrap import build_runtime
from worker.cli.agencies import agency
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import Agency, DeploymentMark
from worker.service.agencies.key_guard import PREFIX
from worker.service.agencies.vault import fingerprints
from worker.settings import Settings

KEY1, KEY2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
A, B, C = "000.00.91.H19", "000.00.92.H19", "000.00.93.H19"
SENDER = ["--name", "UBND xã Thử Nghiệm", "--tel", "02773000001", "--address", "Số 1",
          "--province", "82", "--ward", "30226"]
EXAMPLES = Path(__file__).resolve().parents[2] / "worker" / "examples" / "agencies.json"


def _creds() -> str:
    return json.dumps({"customer_key": secrets.token_urlsafe(12),
                       "secret_key": secrets.token_urlsafe(32),
                       "push_secret": secrets.token_urlsafe(32)})


def _own(code: str, customer: str) -> list[str]:
    return ["add", code, *SENDER, "--route", "B", "--customer-code", customer,
            "--credentials-stdin"]


def _process(home: Path, key: str, url: str, *args: str, stdin: str = ""
             ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(HANDOFF_HOME=str(home), HANDOFF_DATABASE_URL=url, HANDOFF_CREDENTIALS_KEY=key)
    return forked_cli.run(["agency", *args], env, stdin=stdin)


def _invoke(db: Database, home: Path, key: str, *args: str, stdin: str = "") -> Result:
    rt = build_runtime(Settings(home=home, database_url=db.url,
                                credentials_key=SecretStr(key)), db, bell=ListBell())
    result = CliRunner().invoke(agency, list(args), obj=rt, input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.output)
    assert "Traceback" not in result.output
    return result


def _state(db: Database) -> tuple[dict[str, str | None], set[str]]:
    """Every agency's sealed token, and the key fingerprints recorded."""
    with db.unit_of_work() as s:
        tokens = dict(s.execute(select(Agency.code, Agency.credentials)).all())
        marks = {n.removeprefix(PREFIX) for n in s.scalars(select(DeploymentMark.name))
                 if n.startswith(PREFIX)}
    return tokens, marks


def _fp(key: str) -> str:
    return fingerprints(Settings(credentials_key=SecretStr(key)))[0]


WRONG = "HANDOFF_CREDENTIALS_KEY sai: không mở được thông tin tài khoản nào đã lưu"


@pytest.mark.processes
def test_a_wrong_credentials_key_is_refused_before_anything_is_written(
        pg_url: str, tmp_path: Path) -> None:
    upgrade(pg_url)
    db = Database(pg_url)
    try:
        first = _process(tmp_path, KEY1, pg_url, *_own(A, "C0091"), stdin=_creds())
        assert first.returncode == 0, first.stderr  # a fresh database adopts the first key
        assert _state(db)[1] == {_fp(KEY1)}
        before = _state(db)
        wrong = _process(tmp_path, KEY2, pg_url, *_own(B, "C0092"), stdin=_creds())
        assert wrong.returncode == 2, wrong.stdout + wrong.stderr
        assert WRONG in wrong.stderr and "chưa ghi gì" in wrong.stderr
        assert _state(db) == before  # no agency B, A's token and the marks as they were
        # update, import and rotate-key with the wrong key: the same refusal, nothing written
        file = tmp_path / "more.json"
        file.write_text(json.dumps({B: {"name": "UBND xã Hai", "tel": "02773000003",
                                        "address": "Số 3", "province_code": "82",
                                        "ward_code": "30226", "route": "B",
                                        "customer_code": "C0092", **json.loads(_creds())}}),
                        encoding="utf-8")
        for args, stdin in ((["update", A, "--credentials-stdin"], _creds()),
                            (["import", str(file)], ""), (["rotate-key"], "")):
            refused = _invoke(db, tmp_path, KEY2, *args, stdin=stdin)
            assert refused.exit_code == 2 and WRONG in refused.output, refused.output
            assert _state(db) == before
        # rotation: the new key first and the old one listed; afterwards only the new opens
        assert _invoke(db, tmp_path, f"{KEY2},{KEY1}", "rotate-key").exit_code == 0
        assert _state(db)[1] == {_fp(KEY2)}
        assert _invoke(db, tmp_path, KEY1, *_own(B, "C0092"), stdin=_creds()).exit_code == 2
        assert _invoke(db, tmp_path, KEY2, *_own(B, "C0092"), stdin=_creds()).exit_code == 0
        # a database from before the marks: the sealed rows themselves are the canary
        with db.unit_of_work() as s:
            s.execute(delete(DeploymentMark).where(DeploymentMark.name.startswith(PREFIX)))
        assert _invoke(db, tmp_path, KEY1, *_own(C, "C0093"), stdin=_creds()).exit_code == 2
        assert _state(db)[1] == set()
        assert _invoke(db, tmp_path, KEY2, *_own(C, "C0093"), stdin=_creds()).exit_code == 0
        assert _state(db)[1] == {_fp(KEY2)}
    finally:
        db.dispose()


# --- hostile import files ----------------------------------------------------------------

@pytest.mark.processes
@pytest.mark.parametrize(("body", "said"), [
    ("[" * 100_000 + "]" * 100_000, "JSON lồng nhau quá 8 cấp"),
    ('{"000.00.96.H19": {"quota_per_second": ' + "9" * 5_000 + "}}",
     "có số dài quá 4300 chữ số"),
])
def test_a_hostile_import_file_is_exit_2_naming_the_file_never_a_traceback(
        tmp_path: Path, body: str, said: str) -> None:
    path = tmp_path / "hostile.json"
    path.write_text(body, encoding="utf-8")
    out = _process(tmp_path, KEY1, f"sqlite:///{tmp_path / 'handoff.db'}", "import", str(path))
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr == f"error: tệp {path}: {said}\n"


def _huge(path: Path) -> None:
    path.write_bytes(b'{"a": "' + b"x" * 10_000_001 + b'"}')


@pytest.mark.parametrize(("content", "said"), [
    (_huge, "lớn quá 10.000.000 byte"),
    ('{"a": {"quota_per_second": NaN}}', "NaN không phải giá trị JSON"),
    ('{"000.00.96.H19": {"name": "A"}, "000.00.96.H19": {"name": "B"}}',
     "khóa '000.00.96.H19' có hai lần trong một object"),
    ("[1, 2]", "phải là object {mã đơn vị: {...}} hoặc danh sách"),
    ('{"000.00.96.H19": ["không phải object"]}', "000.00.96.H19: mỗi đơn vị phải là một object"),
    ('{"000.00.96.H19": {"name": {"x": 1}}}', "000.00.96.H19.name: giá trị phải là chuỗi"),
    (json.dumps([{"code": f"000.00.{n:02d}.X"} for n in range(5_001)]),
     "có 5001 đơn vị; mỗi lần nhập tối đa 5000"),
    # a terminal escape in a key is shown as U+FFFD, never sent to the terminal
    (json.dumps({"\x1b[2J\x1b]0;pwned\x07": {}}),
     "\ufffd[2J\ufffd]0;pwned\ufffd.code: giá trị chứa ký tự điều khiển U+001B"),
    ('{"\\ud800": {"name": "A"}}', "\ufffd.code: giá trị chứa ký tự không hợp lệ"),
    (b"\xef\xbb\xbf" + json.dumps({"000.00.96.H19": {"name": "A"}}).encode(),
     "000.00.96.H19.address: thiếu"),  # a BOM is not content: the file is read
    (b'{"\xff": 1}', "không phải văn bản UTF-8"),
])
def test_an_import_file_of_the_wrong_shape_is_named_with_its_problem(
        sqlite_db: Database, tmp_path: Path, content: object, said: str) -> None:
    path = tmp_path / "bad.json"
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(str(content), encoding="utf-8")
    out = _invoke(sqlite_db, tmp_path, KEY1, "import", str(path))
    assert out.exit_code == 2
    assert out.output.startswith(f"error: tệp {path}: ") and said in out.output, out.output
    assert "\x1b" not in out.output and "\x07" not in out.output


def test_the_embedded_default_imports_the_shipped_examples(sqlite_db: Database,
                                                           tmp_path: Path) -> None:
    """`make demo` imports worker/examples/agencies.json: on SQLite its public simulator
    accounts are fine (production refuses them: test_production_guard.py)."""
    out = _invoke(sqlite_db, tmp_path, KEY1, "import", str(EXAMPLES))
    assert out.exit_code == 0, out.output
    assert "3 đơn vị" in out.output
