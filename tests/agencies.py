"""The agencies tests work with: the one-stop simulator's five agencies, posting by
themselves through the default account (tests only).

Every hand-off needs its agency in the `agencies` table (an unknown agency's hand-off waits
as needs_attention): `sqlite_db` seeds these; a test that gives `Settings(agencies=...)`
calls `seed(db, settings)` so that those entries (name, dispatch, sender) win.
"""

from __future__ import annotations

from typing import Any

from simulators.onestop.data import AGENCIES
from worker.db.engine import Database
from worker.service.admin import agency_admin
from worker.settings import Settings

SENDER = {"tel": "02773000000", "email": "motcua@example.gov.vn",
          "address": "Trung tâm Phục vụ hành chính công", "province_code": "82",
          "ward_code": "30226"}


def standard() -> dict[str, dict[str, Any]]:
    return {code: {"name": name, **SENDER, "dispatch": "auto", "route": "ngsp"}
            for code, name, _province in AGENCIES}


def seed(db: Database, settings: Settings | None = None, **extra: dict[str, Any]) -> None:
    """Add (or update) the standard agencies, then the entries of `settings.agencies`,
    then `extra` ({code: fields})."""
    settings = settings or Settings(database_url=db.url)
    data = standard()
    for code, cfg in settings.agencies.items():
        data[code] = {**data.get(code, {}), "name": cfg.name, "tel": cfg.tel,
                      "email": cfg.email, "address": cfg.address,
                      "province_code": cfg.province_code, "ward_code": cfg.ward_code,
                      "dispatch": cfg.dispatch if cfg.dispatch in ("auto", "desk") else "desk",
                      "route": data.get(code, {}).get("route", "ngsp")}
    for code, fields in extra.items():
        data[code] = {**data.get(code, {}), **fields}
    with db.unit_of_work() as s:
        agency_admin.import_agencies(s, settings, data, "test")
