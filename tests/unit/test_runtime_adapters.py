"""A carrier adapter replaced after its account changed (new credentials or quota) is not
closed under the threads that may still be calling through it: it is closed once
RETIRED_KEPT newer replacements came after it, or when the runtime closes."""

from __future__ import annotations

import ssl
from dataclasses import replace
from pathlib import Path

from tests.fakes import ListBell
from worker.db.engine import Database
from worker.domain.model import CarrierAccount
from worker.service.runtime import RETIRED_KEPT, Factories, Runtime
from worker.settings import Settings


class Adapter:
    def __init__(self, account: CarrierAccount) -> None:
        self.account = account
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_a_replaced_adapter_stays_open_until_later_ones_retire_it(
        sqlite_db: Database, tmp_path: Path) -> None:
    made: list[Adapter] = []

    def factory(settings: Settings, account: CarrierAccount, limiter: object) -> Adapter:
        made.append(Adapter(account))
        return made[-1]

    rt = Runtime(Settings(home=tmp_path, database_url=sqlite_db.url), sqlite_db,
                 factories=Factories(carriers={"ngsp": factory}), bell=ListBell(),
                 limiter=object())  # type: ignore[arg-type]
    account = CarrierAccount("ngsp", "C0101", "key", "secret-1")
    first = rt.carrier_for(account)
    assert rt.carrier_for(account) is first  # the same account: the same adapter
    rotated = rt.carrier_for(replace(account, secret_key="secret-2"))
    assert rotated is not first and not made[0].closed  # a thread may be mid-call on it
    for n in range(RETIRED_KEPT):
        rt.carrier_for(replace(account, secret_key=f"secret-{n + 3}"))
    assert made[0].closed and not made[1].closed
    rt.close()
    assert all(a.closed for a in made)


def test_the_production_adapters_share_one_tls_context_that_verifies(
        sqlite_db: Database, tmp_path: Path) -> None:
    """Every client the production adapters make (a carrier's per account, the one-stop's,
    the notifier's) is on the process's one TLS context, which verifies certificates and
    host names as httpx's default does (integrations/http_client.py: a context each cost
    about 1.2 MB in every pool process)."""
    from worker.bootstrap import build_runtime

    rt = build_runtime(Settings(home=tmp_path, database_url=sqlite_db.url), sqlite_db,
                       bell=ListBell())
    try:
        ports: list[object] = [
            rt.carrier_for(CarrierAccount("ngsp", f"C010{n}", "key", "secret")) for n in (1, 2)]
        ports += [rt.carrier_for(CarrierAccount("lgsp", "C0021", "key", "secret")),
                  rt.onestop, rt.notifier]
        contexts = {id(p._http._transport._pool._ssl_context) for p in ports}  # type: ignore[attr-defined]
        assert len(contexts) == 1
        ctx = ports[0]._http._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname
        assert ctx.get_ca_certs()  # a bundle loaded (certifi's)
    finally:
        rt.close()
