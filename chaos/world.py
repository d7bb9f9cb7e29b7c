"""One deployment under test: the Stack (simulators, web, workers, beats as subprocesses) on
the suite's own redis-server and PostgreSQL cluster, or on the embedded default, optionally
through TCP proxies the suite controls, seeded with marked personal data (chaos/pii.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from random import Random
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from chaos import measure, pii
from chaos.measure import Row
from integrations.onestop.webhooks import signed_webhook_request
from simulators.onestop.data import ItemFactory
from tests.support.waits import log_tails
from worker.db.engine import Database
from worker.domain.statuses import FINAL
from worker.launch.stack import EXAMPLE_AGENCIES, Stack

# A fourth agency, route A on its own account, whose secrets carry the PII markers.
EXTRA_AGENCY = {"000.00.09.H19": {
    "name": "UBND xã Tân Thạnh", "tel": "02773650999", "email": "motcua.tanthanh@example.gov.vn",
    "address": "Trung tâm Phục vụ hành chính công xã Tân Thạnh", "province_code": "82",
    "ward_code": "30226", "dispatch": "auto", "route": "A", "customer_code": "C0909",
    "customer_key": "sim-tanthanh-ngsp-key",
    "secret_key": f"sim-tanthanh-{pii.SECRET}-secret-for-the-simulator",
    "push_secret": f"sim-tanthanh-{pii.PUSH_SECRET}-push-secret-simulator",
    "quota_per_second": 20}}


class World:
    """Start with `with World(home) as w: w.start()`; everything stops on exit."""

    def __init__(self, home: Path, *, backend: str = "redis+pg", proxy_redis: bool = False,
                 proxy_pg: bool = False, workers: int = 1, beats: int = 1,
                 extra_env: dict[str, str] | None = None,
                 extra_agencies: dict[str, dict] | None = None, speed: float = 14400.0):
        if backend not in ("redis+pg", "embedded"):
            raise ValueError(f"backend: {backend!r} is not 'redis+pg' or 'embedded'")
        self.home = Path(home)
        self.backend = backend
        self.proxy_redis, self.proxy_pg = proxy_redis, proxy_pg
        self.workers, self.beats = workers, beats
        self.agencies = {**json.loads(EXAMPLE_AGENCIES.read_text(encoding="utf-8")),
                         **EXTRA_AGENCY, **(extra_agencies or {})}
        self.redis: Any = None  # chaos.servers.RedisServer when backend is redis+pg
        self.pg: Any = None  # chaos.servers.PgCluster
        self.redis_proxy: Any = None  # chaos.proxy.TcpProxy
        self.pg_proxy: Any = None
        self.stack = Stack(home=self.home / "stack", speed=speed,
                           extra_env={**pii.SECRET_ENV, **(extra_env or {})},
                           agencies_file=self.home / "agencies.json")
        self._db: Database | None = None
        self._factory = ItemFactory(Random(os.getpid() ^ int(time.time())), counter=700_000)
        self._seq = 0
        self.worker_names: list[str] = []
        self.before_stop: list[Any] = []  # callables(world) run before the processes stop
        self.webhook_answers: list[tuple[int, str]] = []  # (status, outcome) of each POST
        self._direct_url = ""
        self._pg_home: Path | None = None

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "agencies.json").write_text(json.dumps(self.agencies, ensure_ascii=False),
                                                 encoding="utf-8")
        if self.backend == "redis+pg":
            self._start_servers()
        # the schema is made while the simulators start; workers and beats start (they
        # take seconds to import) while the web comes up
        with ThreadPoolExecutor(1) as pool:
            migrated = pool.submit(self.stack.migrate)
            self.stack.start_simulators()
            migrated.result()
        for i in range(self.workers):
            self.start_worker(f"worker-{i + 1}")
        for i in range(self.beats):
            self.stack.start_beat(f"beat-{i + 1}")
        self.stack.start_web()

    def _start_servers(self) -> None:
        from chaos.proxy import TcpProxy
        from chaos.servers import PgCluster, RedisServer

        self.redis = RedisServer(self.home / "redis")
        self.redis.start()
        # the cluster runs as `postgres` when we are root: its folder lives outside the
        # caller's (pytest makes its temporary root 0700 again whenever another run starts)
        self._pg_home = Path(tempfile.mkdtemp(prefix="chaos-pg-"))
        self._pg_home.chmod(0o755)
        self.pg = PgCluster(self._pg_home)
        self.pg.start()
        redis_port, pg_port = self.redis.port, self.pg.port
        if self.proxy_redis:
            self.redis_proxy = TcpProxy(self.redis.port)
            self.redis_proxy.start()
            redis_port = self.redis_proxy.port
        if self.proxy_pg:
            self.pg_proxy = TcpProxy(self.pg.port)
            self.pg_proxy.start()
            pg_port = self.pg_proxy.port
        self.stack.broker_url = f"redis://127.0.0.1:{redis_port}/0"
        # trust auth takes any password: the URL carries a marked one for the PII scan
        url = make_url(self.pg.url).set(password=pii.DB_PASSWORD)
        self.stack.database_url = url.set(port=pg_port).render_as_string(hide_password=False)
        self._direct_url = url.render_as_string(hide_password=False)

    def start_worker(self, name: str | None = None) -> str:
        name = name or f"worker-{len(self.worker_names) + 1}"
        self.stack.start_worker(name)
        self.worker_names.append(name)
        return name

    def worker_pids(self, name: str) -> tuple[int, list[int]]:
        """(main process, pool processes) of a running worker."""
        main = self.stack.procs[name].pid
        kids: list[int] = []
        for task in Path(f"/proc/{main}/task").glob("*"):  # any thread may have forked one
            try:
                kids += [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
        return main, sorted(set(kids))

    def exited(self) -> dict[str, int | None]:
        """The processes of the stack that are no longer running, with their exit codes."""
        return {name: p.returncode for name, p in self.stack.procs.items()
                if p.poll() is not None}

    def kill_pool_child(self, name: str) -> int | None:
        """SIGKILL one pool process of a worker (its main process starts another)."""
        _, kids = self.worker_pids(name)
        if not kids:
            return None
        victim = Random().choice(kids)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return victim

    def stop(self) -> None:
        try:
            for hook in self.before_stop:
                hook(self)
        finally:
            self.stack.stop()
            if self._db is not None:
                self._db.dispose()
            errors = []
            for server in (self.redis_proxy, self.pg_proxy, self.redis, self.pg):
                try:  # every one is stopped, whichever fails
                    if server is not None:
                        server.close() if hasattr(server, "close") else server.stop()
                except Exception as exc:
                    errors.append(exc)
            if self._pg_home is not None:  # its log kept beside the world's (the PII scan)
                log = self._pg_home / "pg-log" / "postgres.log"
                if log.exists():
                    (self.home / "postgres").mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(log, self.home / "postgres" / "postgres.log")
                shutil.rmtree(self._pg_home, ignore_errors=True)
            if errors:
                raise errors[0]

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def db(self) -> Database:
        """The world's store, directly (not through a proxy)."""
        if self._db is None:
            url = (self._direct_url if self.backend == "redis+pg"
                   else f"sqlite:///{self.stack.home / 'handoff.db'}")
            self._db = Database(url)
        return self._db

    # --- work in -------------------------------------------------------------------------
    def items(self, n: int, kind: str = "result_ready") -> list[dict]:
        """n one-stop items spread over every agency, each citizen marked (chaos/pii.py)."""
        codes = sorted(self.agencies)
        out = []
        for _ in range(n):
            self._seq += 1
            item = self._factory.make(kind)
            agency = codes[self._seq % len(codes)]
            item["agency"] = {"code": agency, "name": self.agencies[agency]["name"]}
            item["dossierCode"] = self._factory.dossier_code(
                agency, datetime.fromisoformat(item["createdAt"]))
            family, *_, given = item["citizen"]["name"].split()
            item["citizen"].update(pii.citizen(self._seq, family, given))
            out.append(item)
        return out

    def seed(self, n: int, via: str = "feed", copies: int = 1,
             kind: str = "result_ready") -> list[str]:
        """n hand-offs into the one-stop (its feed; with via="webhook" also posted to the
        web's /hooks/onestop, each `copies` times at once); their dossier codes."""
        items = self.items(n, kind)
        for start in range(0, len(items), 200):
            self.stack.onestop_admin("handoffs", {"items": items[start:start + 200]})
        if via == "webhook":
            self.webhook_answers = self.deliver_webhooks(items, copies)
        elif via != "feed":
            raise ValueError(f"via: {via!r} is not 'feed' or 'webhook'")
        return [i["dossierCode"] for i in items]

    def deliver_webhooks(self, items: list[dict], copies: int = 1) -> list[tuple[int, str]]:
        """POST each item to /hooks/onestop `copies` times at once; (status, outcome) each."""
        with ThreadPoolExecutor(max(4, copies * 2)) as pool:
            futures = [pool.submit(self.post_webhook, item) for item in items
                       for _ in range(copies)]
            return [f.result() for f in futures]

    def post_webhook(self, item: dict, client: httpx.Client | None = None) -> tuple[int, str]:
        """POST one item to /hooks/onestop, signed; (status, outcome), (0, error) unsent.
        `client`: one kept open by a sender that posts many (a new one per post costs)."""
        headers, body = signed_webhook_request(pii.WEBHOOK_SECRET, item)
        try:
            r = (client or httpx).post(self.stack.web_url + "hooks/onestop", headers=headers,
                                       content=body, timeout=30)
        except httpx.HTTPError as exc:
            return 0, type(exc).__name__
        try:
            return r.status_code, str(r.json().get("outcome", ""))
        except ValueError:
            return r.status_code, ""

    # --- waiting and judging -----------------------------------------------------------
    def wait_all_final(self, codes: list[str], timeout: float) -> float:
        """Seconds until every code's hand-off is final; AssertionError with the state."""
        started = time.monotonic()
        seen: dict[str, str] = {}
        while time.monotonic() - started < timeout:
            try:
                seen = measure.final_statuses(self.db(), codes)
            except Exception:  # the store restarting: not yet
                seen = {}
            if len(seen) == len(set(codes)) and all(s in FINAL for s in seen.values()):
                return time.monotonic() - started
            time.sleep(0.5)
        counts: dict[str, int] = {}
        for status in seen.values():
            counts[status] = counts.get(status, 0) + 1
        raise AssertionError(
            f"{len(codes)} hand-offs not all final after {timeout:.0f}s: "
            f"{len(codes) - len(seen)} without a hand-off, statuses {counts}; "
            f"logs: {log_tails(self.stack.home, tuple(self.stack.procs), 800)}")

    def wait_drained(self, stall_s: float, cap_s: float = 900.0) -> None:
        """Until no ledger row is pending (push-backs trail the last status). A backlog may
        take its time: it fails when no row has finished for `stall_s` seconds (a row stuck,
        not a slow drain), or past `cap_s` whatever happens."""
        started = last_move = time.monotonic()
        last: int | None = None
        while True:
            pending: int | None
            finished: int | None
            try:
                db = self.db()
                pending, finished = measure.pending_jobs(db), measure.finished_jobs(db)
            except Exception:  # the database restarting, say: not yet
                pending = finished = None
            if pending == 0:
                return
            now = time.monotonic()
            if finished is not None and finished != last:
                last, last_move = finished, now
            if now - last_move > stall_s or now - started > cap_s:
                why = (f"no row finished for {stall_s:.0f}s" if now - last_move > stall_s
                       else f"not drained in {cap_s:.0f}s")
                try:  # what the rows wait on, if the database still answers
                    what = measure.pending_summary(self.db())
                except Exception as err:
                    what = f"(not read: {type(err).__name__})"
                raise AssertionError(f"{pending} ledger rows still pending ({why}): {what}")
            time.sleep(0.5)

    def verdict(self, name: str, codes: list[str], recover_s: float | None,
                notes: str = "") -> Row:
        events = self.stack.onestop_admin("events")["events"]
        onestop = self.stack.onestop_admin("stats")
        carrier = self.stack.carrier_admin("stats")
        lost, why = measure.count_lost(self.db(), codes, events)
        return Row(
            scenario=name, handoffs=len(codes), lost=lost,
            duplicate_orders=measure.count_duplicate_orders(carrier["orders_by_number"]),
            duplicate_pushbacks=measure.count_duplicate_pushbacks(events),
            dead_letters=measure.dead_letters(self.db()), recover_s=recover_s,
            notes="; ".join(p for p in (notes, why) if p),
            redelivered=int(onestop.get("duplicate_deliveries", 0)))
