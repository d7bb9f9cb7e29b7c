"""`handoff pickup record|slips|handed-over`: the record printed to a file (the same record
when printed again), the slips, a refusal naming the code, the record closed."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pypdf import PdfReader

from tests.service.test_handover import AGENCY, OTHER, _handoff
from tests.service.world import World
from tests.support.code128 import barcodes
from worker import bootstrap
from worker.cli import main

pytestmark = pytest.mark.flows  # the CLI on a database


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
        ) -> Callable[..., Result]:
    monkeypatch.setattr(bootstrap, "_runtime", world.rt)  # the command's runtime: the world's
    monkeypatch.setattr(bootstrap, "_pid", os.getpid())
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, ["pickup", *args])


def test_the_record_and_slips_from_the_command_line(world: World, cli: Callable[..., Result],
                                                    tmp_path: Path) -> None:
    a, b = _handoff(world, 1), _handoff(world, 2)
    first = cli("record", "--agency", AGENCY)
    number = f"BB-{AGENCY}-" + first.output.split(f"BB-{AGENCY}-")[1].split()[0]
    assert first.exit_code == 0 and "mới lập" in first.output, first.output
    pdf = tmp_path / f"{number}.pdf"
    assert barcodes(PdfReader(io.BytesIO(pdf.read_bytes()))) == [f"{a}/R1", f"{b}/R1"]
    again = cli("record", a, b, "-o", "again.pdf")
    assert again.exit_code == 0 and "in lại" in again.output
    assert (tmp_path / "again.pdf").read_bytes() == pdf.read_bytes()

    slips = cli("slips", "--agency", AGENCY, "-o", "s.pdf")
    assert slips.exit_code == 0 and "2 phiếu gửi" in slips.output
    assert barcodes(PdfReader(tmp_path / "s.pdf")) == [f"{a}/R1", f"{b}/R1"]

    assert cli("handed-over", number).exit_code == 0
    nothing = cli("record", "--agency", AGENCY)
    assert nothing.exit_code == 2 and "không có hồ sơ nào chờ bàn giao" in nothing.output


def test_a_code_of_another_agency_is_refused_by_name(world: World,
                                                     cli: Callable[..., Result]) -> None:
    other = _handoff(world, 1, agency=OTHER)
    got = cli("record", "--agency", AGENCY, other)
    assert got.exit_code == 2 and f"hồ sơ {other} không chờ bàn giao" in got.output


def test_a_record_number_from_an_odd_agency_code_is_one_safe_file_name(
        world: World, cli: Callable[..., Result], tmp_path: Path) -> None:
    odd = "../x/y z"  # agency codes come from the one-stop as free text
    _handoff(world, 1, agency=odd)
    got = cli("record", "--agency", odd)
    assert got.exit_code == 0, got.output
    number = got.output.split()[0]
    assert re.fullmatch(r"BB-\.\.-x-y-z-\d{8}-001", number), got.output
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".pdf"] == [f"{number}.pdf"]
