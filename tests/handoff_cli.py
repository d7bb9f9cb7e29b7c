"""`handoff …` run as an operator runs it: its own process, a home of its own, nothing
inherited from the developer's HANDOFF_ settings."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support import forked_cli


def handoff(home: Path, *args: str | bytes, stdin: str = "", database_url: str = "",
            ) -> subprocess.CompletedProcess[str]:
    """Run the CLI; bytes arguments reach it as a terminal would pass them (undecoded).

    stdin is empty unless given, so the CLI never finds a terminal to prompt on. The
    process is forked from one with the CLI loaded (tests/support/forked_cli.py).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["HANDOFF_HOME"] = str(home)
    if database_url:
        env["HANDOFF_DATABASE_URL"] = database_url
    return forked_cli.run(list(args), env, stdin=stdin, errors="replace")
