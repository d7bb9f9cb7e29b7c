"""Every stamp on the database server's clock: a process whose machine clock runs five
minutes ahead (libfaketime preloaded into it alone) still stamps ledger rows, leases and
log rows at the server's time, and says once that its clock is off."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from chaos.scenarios.s11_clock_skew import faketime_env
from tests.conftest import require_program

pytestmark = pytest.mark.processes

SKEW_S = 300

PROBE = """
import json, logging, sys, time
logging.basicConfig(level=logging.WARNING, format="%(message)s")
from sqlalchemy import text
from worker.db.engine import Database
from worker.db.models import utcnow
db = Database(sys.argv[1])
before = utcnow().timestamp()  # nothing measured yet: this machine's clock
with db.unit_of_work() as s:  # the first connection measures the server's clock
    server = s.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar()
print(json.dumps({"machine": time.time(), "before": before, "after": utcnow().timestamp(),
                  "server": float(server)}))
"""


def test_a_machine_clock_five_minutes_ahead_stamps_on_the_server_clock(pg_url: str) -> None:
    skew = faketime_env(SKEW_S)
    require_program(skew, "libfaketime (apt-get install faketime)")
    assert skew is not None
    started = time.time()
    out = subprocess.run([sys.executable, "-c", PROBE, pg_url], env={**os.environ, **skew},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout)
    assert seen["machine"] - started > SKEW_S - 30  # the process's clock was ahead ...
    assert seen["before"] - started > SKEW_S - 30
    assert abs(seen["after"] - seen["server"]) < 1.0  # ... its stamps are the server's
    assert abs(seen["after"] - time.time()) < 30
    assert re.search(r"clock is (29\d|30\d)\.\d s ahead of the database server's", out.stderr)
