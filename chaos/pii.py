"""Personal data under failure: recognisable markers seeded everywhere, then looked for.

Every citizen the chaos worlds seed carries a marker in the name, the phone number and the
address; the extra agency's post-office secrets, the webhook, session and credentials
secrets and the database password carry markers too. `scan(world)` looks for every marker
in what an operator or an attacker could read: the log files under the world's home (every
process, the servers included), dead-letter reasons and status-log texts, the /ops pages
and CSV as an ops user, /metrics, and `handoff stuck --json` / `handoff log` output.
The masked forms (initials, 09****678) are fine: only the whole marker counts.
"""

from __future__ import annotations

import base64
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from worker.db.models import Job, StatusLogEntry

if TYPE_CHECKING:
    from chaos.world import World

NAME = "Xoanvirak"  # a middle name: masked names keep only its initial
ADDRESS = "Wyrmquist"  # a street
PHONE_HEAD = "0867314"  # + 3 digits: a valid mobile number, rare enough to be ours
SECRET = "Jkwmzfhqa"  # in the extra agency's post-office secret
PUSH_SECRET = "Hbqnvxepd"  # in its push secret
DB_PASSWORD = "dbpw-Ycnomrvtu-7f3k"
_WEBHOOK_RAW = b"chaos-webhook-Tlzqmwnv-32bytes!!"
_CREDKEY_RAW = b"chaos-credkey-Rxqvwplb-32bytes!!"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(_WEBHOOK_RAW).decode()
CREDENTIALS_KEY = base64.b64encode(_CREDKEY_RAW).decode()
SESSION_SECRET = "chaos-session-Gmvqrtzkw-secret-0123456789"

# the environment a world's processes get: every secret we can choose carries a marker
SECRET_ENV = {
    "HANDOFF_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "HANDOFF_CREDENTIALS_KEY": CREDENTIALS_KEY,
    "HANDOFF_SESSION_SECRET": SESSION_SECRET,
}

_PATTERN = re.compile("|".join([
    re.escape(NAME), re.escape(ADDRESS), rf"(?<!\d){PHONE_HEAD}\d{{3}}(?!\d)",
    rf"(?<!\d)\+?84{PHONE_HEAD[1:]}\d{{3}}(?!\d)", re.escape(SECRET), re.escape(PUSH_SECRET),
    re.escape(DB_PASSWORD), re.escape(WEBHOOK_SECRET.removeprefix("whsec_")),
    re.escape(CREDENTIALS_KEY), re.escape(SESSION_SECRET),
]), re.IGNORECASE)

# files that hold the seeded values on purpose: the suite's own, and the other systems' logs
_OWN_FILES = {"agencies.json", "agencies-from-env.json",
              "carrier-sim.log", "onestop-sim.log"}  # the simulators play the other systems


def citizen(i: int, family: str = "Nguyễn", given: str = "Hoa") -> dict[str, str]:
    """The marked name, phone and address of the i-th seeded citizen."""
    return {"name": f"{family} {NAME} {given}", "phone": f"{PHONE_HEAD}{i % 1000:03d}",
            "address": f"Số {i % 250 + 1} hẻm {ADDRESS}"}


def find(text: str) -> list[str]:
    """The markers in `text` (each once)."""
    return sorted({m.group(0) for m in _PATTERN.finditer(text)})


def scan_files(home: Path) -> list[str]:
    """'path: markers' for every log file under `home` that holds a marker."""
    found = []
    for path in sorted(home.rglob("*")):
        if not path.is_file() or path.name in _OWN_FILES or path.suffix != ".log":
            continue
        if path.stat().st_size > 200_000_000:
            continue
        hits = find(path.read_text(errors="replace"))
        if hits:
            found.append(f"{path}: {', '.join(hits)}")
    return found


def scan_live(world: World) -> list[str]:
    """What a running world shows: ledger and status-log texts, pages, CSV, metrics, CLI."""
    found = []
    with world.db().unit_of_work() as s:
        texts = [("dead-letter reason", j.last_error) for j in s.scalars(select(Job))]
        texts += [("status log", f"{e.reason} {e.raw_text or ''}")
                  for e in s.scalars(select(StatusLogEntry))]
    for where, text in texts:
        hits = find(text or "")
        if hits:
            found.append(f"{where}: {', '.join(hits)}")
    for where, text in _pages(world):
        hits = find(text)
        if hits:
            found.append(f"{where}: {', '.join(hits)}")
    return found


def _pages(world: World) -> list[tuple[str, str]]:
    """(where, text) of the ops pages, CSV and metrics as an ops user (the real web app on
    the world's database, in this process: its session cookie is Secure off the embedded
    default), and of the command line's `stuck --json` and `log` output."""
    with warnings.catch_warnings():  # starlette's note on its test client's httpx
        warnings.simplefilter("ignore")
        from tests.web_app import add_staff, login, page_client, web_runtime

    out = []
    for args in (("stuck", "--json"), ("log", "--json"), ("log",)):
        result = world.stack.run(*args)
        out.append((f"handoff {' '.join(args)}", result.stdout + result.stderr))
    db = world.db()
    add_staff(db)
    token = "chaos-metrics-token-0123456789abcdef"
    rt = web_runtime(db, world.stack.home, metrics_token=token, allow_demo_secrets=True)
    with page_client(rt) as web:
        login(web, "ops")
        for path in ("/ops", "/ops/handoffs", "/ops/handoffs.csv", "/ops/dead",
                     "/ops/overview.json", "/ops/handoffs/1", "/ops/handoffs/2"):
            reply = web.get(path)
            out.append((f"GET {path} ({reply.status_code})", reply.text))
        reply = web.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        out.append((f"GET /metrics ({reply.status_code})", reply.text))
    return out
