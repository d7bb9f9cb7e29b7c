"""One token per account per expiry window for all the processes of a machine.

Four OS processes (spawned, as a pool would be), each with its own adapter built by the
registry's factory, call the simulator at once in rounds: the first round fetches one
token; after the simulator revokes every token (401s everywhere) one process fetches the
next; after it runs out, again one. The simulator counts the token requests.
"""

from __future__ import annotations

import multiprocessing as mp
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from integrations.carriers.registry import ADAPTERS
from simulators.carrier.app import SimConfig, serve_in_thread
from worker.domain.enums import Route
from worker.domain.model import CarrierAccount
from worker.ports.quota import NoLimit
from worker.settings import Settings

PROCESSES = 4
ROUNDS = 3
TTL = 4.0  # the simulator's token lifetime (seconds): clients stop using one at 3.6 s
ACCOUNTS = {
    Route.NGSP: CarrierAccount(Route.NGSP, "C0003", "ngsp-key", "ngsp-secret-MARKER"),
    Route.LGSP: CarrierAccount(Route.LGSP, "C0002", "lgsp-key", "lgsp-secret-MARKER"),
}


def settings_for(home: str, sim: str) -> Settings:
    return Settings(home=Path(home), carrier_base_url=sim, lgsp_token_url=f"{sim}lgsp/token",
                    lgsp_base_url=f"{sim}lgsp")


def pool_process(home: str, sim: str, route: str, ready: Any, go: list[Any],
                 results: Any) -> None:
    """One process of the pool: its own adapter; each round, three calls."""
    client = ADAPTERS[route](settings_for(home, sim), ACCOUNTS[Route(route)], NoLimit())
    ready.put(True)
    for n in range(ROUNDS):
        if not go[n].wait(60):
            return
        try:
            for _ in range(3):
                client.fetch_events(None, 10)
            results.put((n, "ok"))
        except Exception as exc:  # noqa: BLE001 - reported to the parent's assertion
            results.put((n, repr(exc)))
    client.close()


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    accounts = {a.customer_key: [a.secret_key, a.customer_code] for a in ACCOUNTS.values()}
    base_url, stop = serve_in_thread(SimConfig(token_ttl=TTL, accounts=accounts))
    yield base_url
    stop()


def token_requests(sim: str) -> int:
    return httpx.get(f"{sim}_admin/stats").json()["token_requests"]


@pytest.mark.parametrize("route", list(Route))
def test_processes_share_one_token_per_expiry_window(route, sim, tmp_path):
    httpx.post(f"{sim}_admin/reset").raise_for_status()
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    go = [ctx.Event() for _ in range(ROUNDS)]
    procs = [ctx.Process(target=pool_process, args=(str(tmp_path), sim, str(route), ready, go,
                                                    results), daemon=True)
             for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready.get(timeout=60)

        def run_round(n: int) -> None:
            go[n].set()
            outcomes = [results.get(timeout=60) for _ in procs]
            assert outcomes == [(n, "ok")] * PROCESSES

        run_round(0)  # 4 processes x 3 calls, one token
        assert token_requests(sim) == 1
        tokens = tmp_path / "tokens"
        assert stat.S_IMODE(tokens.stat().st_mode) == 0o700
        files = list(tokens.glob("*.json"))
        assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
        assert "MARKER" not in files[0].read_text() and "key" not in files[0].name

        httpx.post(f"{sim}_admin/revoke-tokens").raise_for_status()
        run_round(1)  # every process meets a 401; one of them fetches the next token
        assert token_requests(sim) == 2

        time.sleep(TTL + 0.3)  # the token runs out: refreshed before use, once
        run_round(2)
        assert token_requests(sim) == 3
        by_account = httpx.get(f"{sim}_admin/stats").json()["token_requests_by_account"]
        assert by_account == {ACCOUNTS[route].customer_key: 3}
    finally:
        for event in go:
            event.set()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
