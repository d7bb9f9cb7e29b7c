"""The generated pages (docs/configuration.md, docs/cli.md) say what the code says now."""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from worker.cli.main import main as handoff
from worker.settings import AgencyConfig, Settings

ROOT = Path(__file__).resolve().parents[2]


def _load_generator() -> ModuleType:
    """tools/ is not a package: the script is loaded from its file, as `make docs` runs it."""
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "tools" / "gen_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_docs = _load_generator()


def _stale_message(path: Path, expected: str) -> str:
    on_disk = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    diff = difflib.unified_diff(on_disk, expected.splitlines(), "on disk", "generated",
                                lineterm="", n=1)
    return f"{path.relative_to(ROOT)} is stale: run `make docs`\n" + "\n".join(list(diff)[:40])


@pytest.mark.parametrize("page", ["configuration.md", "cli.md"])
def test_the_generated_page_is_fresh(page: str) -> None:
    path = ROOT / "docs" / page
    expected = gen_docs.pages()[path]
    assert path.exists() and path.read_text(encoding="utf-8") == expected, \
        _stale_message(path, expected)


def test_every_setting_and_agency_field_has_a_description() -> None:
    missing = [f"{model.__name__}.{name}" for model in (Settings, AgencyConfig)
               for name, field in model.model_fields.items() if not field.description]
    assert not missing, f"add Field(description=...) to: {missing}"


def test_every_setting_is_on_the_configuration_page() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    absent = [name for name in Settings.model_fields if f"`HANDOFF_{name.upper()}`" not in text]
    assert not absent


def test_the_cli_page_holds_what_help_prints() -> None:
    """The page is what `handoff … --help` prints, not a rendering of its own."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for args in (["--help"], ["agency", "add", "--help"], ["pickup", "request", "--help"]):
        printed = CliRunner().invoke(handoff, args, prog_name="handoff",
                                     terminal_width=gen_docs.WIDTH,
                                     max_content_width=gen_docs.WIDTH)
        assert printed.exit_code == 0, printed.output
        block = "\n".join(line.rstrip() for line in printed.output.splitlines())
        assert f"```text\n{block}\n```" in text, args


def test_check_mode_reports_a_stale_page(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    assert gen_docs.main(["--check"]) == 0
    stale = tmp_path / "docs" / "cli.md"
    stale.parent.mkdir()
    stale.write_text("# The `handoff` command\n", encoding="utf-8")
    monkeypatch.setattr(gen_docs, "ROOT", tmp_path)
    monkeypatch.setattr(gen_docs, "pages", lambda: {stale: "new text\n"})
    assert gen_docs.main(["--check"]) == 1
    assert "docs/cli.md is stale" in capsys.readouterr().err
    assert stale.read_text(encoding="utf-8") == "# The `handoff` command\n"  # nothing written
