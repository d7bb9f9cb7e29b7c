"""Every PostgreSQL connection the worker opens carries libpq's link checks (keepalive
probes, a limit on unacknowledged data), so a process waiting on a link whose far side is
gone hears of it instead of waiting for ever."""

from __future__ import annotations

from worker.db.engine import LINK_CHECKS, Database


def test_connections_carry_keepalives_and_a_user_timeout(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        with db.engine.connect() as conn:
            params = conn.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
    finally:
        db.dispose()
    assert {k: params.get(k) for k in LINK_CHECKS} == {k: str(v) for k, v in LINK_CHECKS.items()}
    assert int(params["keepalives_idle"]) + 3 * int(params["keepalives_interval"]) <= 60
