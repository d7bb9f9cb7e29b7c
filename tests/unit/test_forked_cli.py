"""The tests' one-shot commands are forked from a process with the CLI loaded
(tests/support/forked_cli.py): what a command prints and returns there is what it prints
and returns in a new interpreter, and nothing of one command's environment reaches the
next."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support import forked_cli
from worker.launch.stack import run_command


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    return {**env, "HANDOFF_HOME": str(home), **extra}


def _new_interpreter(args: list[str | bytes], env: dict[str, str], stdin: str = ""
                     ) -> subprocess.CompletedProcess[str]:
    return run_command(args, env, stdin=stdin, timeout=120, errors="replace")


@pytest.mark.processes
def test_a_forked_command_answers_as_a_new_interpreter_does(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    assert forked_cli.run(["migrate"], env).returncode == 0
    for args, stdin in ((["--help"], ""), (["no-such-command"], ""),
                        (["status", b"\xff\xfe"], ""), (["agency", "list"], ""),
                        (["user", "add", "ops1", "--role", "ops", "--password-stdin"],
                         "not-a-good-password-2026\n"),
                        (["user", "list"], ""), (["status", "000.00.17.H19-X"], "")):
        forked = forked_cli.run(args, env, stdin=stdin, errors="replace")
        if args[:2] == ["user", "add"]:  # done once: the new interpreter then lists it
            assert forked.returncode == 0, forked.stderr
            continue
        fresh = _new_interpreter(args, env, stdin)
        assert (forked.returncode, forked.stdout, forked.stderr) == (
            fresh.returncode, fresh.stdout, fresh.stderr), args
    assert "ops1" in forked_cli.run(["user", "list"], env).stdout
    # and the forked ones were forked (not run in a new interpreter for want of a match)
    assert forked_cli._the_client is not None and forked_cli._the_client.forked >= 8


@pytest.mark.processes
def test_each_command_reads_its_own_environment(tmp_path: Path) -> None:
    first, second = _env(tmp_path / "a"), _env(tmp_path / "b")
    assert forked_cli.run(["migrate"], first).returncode == 0
    added = forked_cli.run(["user", "add", "only-in-a", "--role", "ops", "--password-stdin"],
                           first, stdin="not-a-good-password-2026\n")
    assert added.returncode == 0, added.stderr
    assert forked_cli.run(["migrate"], second).returncode == 0
    assert "only-in-a" not in forked_cli.run(["user", "list"], second).stdout
    assert "only-in-a" in forked_cli.run(["user", "list"], first).stdout


@pytest.mark.processes
def test_a_command_past_its_timeout_is_killed_and_raises(tmp_path: Path) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        forked_cli.run(["simulate", "onestop", "--port", "0"], _env(tmp_path), timeout=1)
    after = forked_cli.run(["--help"], _env(tmp_path))  # the next command is its own
    assert after.returncode == 0 and "Usage:" in after.stdout and not after.stderr
