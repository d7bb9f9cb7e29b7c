"""`handoff demo`: the whole system on the embedded default, result-ready dossiers to the end."""

from __future__ import annotations

import contextlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import click

from worker.domain import routes
from worker.domain.enums import Role
from worker.domain.statuses import FINAL, Status
from worker.launch.stack import Stack

DEMO_USERS = (("ops", "ops-demo-2026", Role.OPS, None, "Cán bộ vận hành"),
              ("motcua", "desk-demo-2026", Role.DESK, "000.00.17.H19", "Cán bộ một cửa Lai Vung"))


def run_demo(count: int = 24, timeout: float = 115.0, home: Path = Path("var/demo"),
             serve: bool = False) -> int:
    started = time.monotonic()
    # a SIGTERM (docker stop, timeout) must still stop the processes the demo started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    shutil.rmtree(home, ignore_errors=True)
    stack = Stack(home=home.resolve())
    if serve:
        stack.web_port = 8700  # a fixed address for a person to open
    click.echo("Khởi động (mặc định nhúng: SQLite + broker SQLite, không cần máy chủ) "
               f"trong {home}/ ...")
    with stack:
        # the worker rings the periodic work itself: one machine, one worker, and a beat
        # process fewer (`make demo`'s peak PSS 476 -> 419 MB, one run each of
        # bench/demo_memory.py; the goal is 400); the two simulators share a process
        stack.start_all(beat_in_worker=True, simulators_together=True)
        # Realistic trouble: some citizens are not home twice and the result goes back;
        # the carrier loses the reply to every first post (the retry must not double it).
        stack.carrier_admin("faults", {"return_rate": 0.25, "lose_first_reply": True,
                                       "duplicate_event_rate": 0.1, "unknown_code_rate": 0.05})
        stack.onestop_admin("handoffs", {"count": count, "type": "result_ready"})
        click.echo(f"Đã tạo {count} hồ sơ có kết quả chờ gửi bưu chính. Tiến độ:")
        db = (home / "handoff.db").resolve()
        done = _watch(db, count, started, timeout)
        elapsed = time.monotonic() - started
        stats = stack.carrier_admin("stats"), stack.onestop_admin("stats")
        if serve:
            ok = _report(db, stack, count, done, elapsed, stats)
            _serve(stack)
    if not serve:
        # read once the processes have stopped: the `log` command's process is not added to
        # theirs (`make demo`'s memory, bench/demo_memory.py)
        ok = _report(db, stack, count, done, elapsed, stats)
    return 0 if ok else 1


def _report(db: Path, stack: Stack, count: int, done: bool, elapsed: float,
            stats: tuple[dict, dict]) -> bool:
    _print_log(stack)
    return _summary(db, stats, count, done, elapsed)


def _serve(stack: Stack) -> None:
    """Keep the demo running for a person to look around the desk and ops pages."""
    for username, password, role, agency, name in DEMO_USERS:
        add_login(stack, username, password, role, agency, name)
    click.echo(f"\nTrang web: {stack.web_url}  (vận hành: ops / ops-demo-2026; "
               "một cửa: motcua / desk-demo-2026). Ctrl-C để dừng.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("dừng")


def add_login(stack: Stack, username: str, password: str, role: str, agency: str | None,
              name: str) -> None:
    """`handoff user add` as an operator runs it: the password on stdin, never in argv."""
    args = [sys.executable, "-m", "worker.cli", "user", "add", username, "--role", role,
            "--name", name, "--password-stdin", *(["--agency", agency] if agency else [])]
    out = subprocess.run(args, env=stack.env(), input=password + "\n", capture_output=True,
                         text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"user add {username} failed: {out.stderr[-2000:]}")


def _counts(db: Path) -> dict[str, int]:
    """The hand-offs by status, read with the standard library's sqlite3, read-only: the
    demo's own process, alive all through the run, loads neither SQLAlchemy nor the
    models (its PSS 50 -> 27 MB at `make demo`'s peak, bench/demo_memory.py)."""
    try:
        with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True,
                                                timeout=5)) as conn:
            return dict(conn.execute("SELECT status, count(*) FROM handoffs GROUP BY status"))
    except sqlite3.Error:  # no file or no schema yet in the first second, or busy
        return {}


def _watch(db: Path, count: int, started: float, timeout: float) -> bool:
    last = ""
    while time.monotonic() - started < timeout:
        counts = _counts(db)
        total = sum(counts.values())
        final = sum(n for st, n in counts.items() if st in FINAL)
        line = "  ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "(chưa có)"
        line = f"[{time.monotonic() - started:5.1f}s] {final}/{count} hoàn tất | {line}"
        if line.split("|")[1] != last:
            click.echo(line)
            last = line.split("|")[1]
        if total >= count and final >= count:
            return True
        time.sleep(1.0)
    return False


def _print_log(stack: Stack) -> None:
    click.echo("\nNhật ký trạng thái (50 dòng cuối):")
    out = stack.run("log", "--limit", "50")
    click.echo(out.stdout.rstrip())


def _summary(db: Path, stats: tuple[dict, dict], count: int, done: bool, elapsed: float
             ) -> bool:
    carrier, onestop = stats
    counts = _counts(db)
    click.echo("\nTóm tắt:")
    click.echo(f"  hồ sơ: {sum(counts.values())}/{count}; " + ", ".join(
        f"{k}: {v}" for k, v in sorted(counts.items())))
    click.echo(f"  bưu điện: {carrier.get('orders')} đơn, {carrier.get('posts')} lần gửi, "
               f"{carrier.get('repeat_posts')} lần gửi lại được nhận ra (101), "
               f"đơn trùng: {carrier.get('duplicates')}, token: {carrier.get('token_requests')}")
    click.echo(f"  một cửa: {onestop.get('events')} trạng thái đã nhận, "
               f"gửi lặp bị loại: {onestop.get('duplicate_deliveries')}")
    click.echo(f"  thời gian: {elapsed:.1f}s")
    ok, why = verdict(counts, carrier, count, done)
    why += _per_agency(db, carrier)
    ok = ok and not why
    click.echo("KẾT QUẢ: " + ("ĐẠT" if ok else "KHÔNG ĐẠT")
               + (f" ({'; '.join(why)})" if why else ""))
    return ok


def verdict(counts: dict[str, int], carrier: dict, count: int, done: bool
            ) -> tuple[bool, list[str]]:
    """Pass only if every hand-off is final, the carrier holds each order once, and the run
    shows both outcomes: some delivered, some returned after failed delivery attempts."""
    why = []
    if not done:
        why.append("chưa hoàn tất hết trong thời gian cho phép")
    if carrier.get("duplicates") != 0 or carrier.get("orders") != count:
        why.append(f"bưu điện ghi {carrier.get('orders')} đơn cho {count} hồ sơ, "
                   f"{carrier.get('duplicates')} đơn trùng")
    if counts.get(Status.DELIVERED.value, 0) == 0:
        why.append("không có hồ sơ nào phát thành công")
    if counts.get(Status.RETURNED.value, 0) == 0:
        why.append("không có hồ sơ nào chuyển hoàn sau khi phát không thành công")
    return not why, why


def _per_agency(db_path: Path, carrier: dict) -> list[str]:
    """Print each agency's figures and check that every order reached the carrier by its
    agency's route and customer code; returns what is wrong (for the verdict)."""
    # loaded once the run is over (`_counts`)
    from sqlalchemy import select  # lazy (as above)

    from worker.db.engine import Database  # lazy (as above)
    from worker.db.models import Agency, Handoff  # lazy (as above)
    from worker.service.ledger import uow  # lazy (as above)

    orders = carrier.get("orders_by_number") or {}
    db = Database(f"sqlite:///{db_path}")
    try:
        with uow.read(db) as s:
            agencies = {a.code: a for a in s.scalars(select(Agency))}
            rows = s.execute(select(Handoff.agency_code, Handoff.order_number,
                                    Handoff.status)).all()
    finally:
        db.dispose()
    click.echo("\nTheo đơn vị:")
    click.echo(f"  {'đơn vị':<15} {'tuyến':<6} {'tài khoản':<11} {'hồ sơ':>5} {'phát':>5} "
               f"{'hoàn':>5} {'đơn bưu điện (tuyến, mã KH)'}")
    wrong: list[str] = []
    for code in sorted({r[0] for r in rows}):
        agency = agencies.get(code)
        mine = [r for r in rows if r[0] == code]
        # its own account's route, else the deployment's default account's
        route = agency.route if agency and agency.customer_code else routes.DEFAULT_ROUTE
        account = (agency.customer_code if agency and agency.customer_code else "chung")
        seen = sorted({(orders[n]["route"], orders[n]["customer_code"]) for _, n, _ in mine
                       if n in orders})
        click.echo(f"  {code:<15} {routes.letter(route):<6} {account:<11} "
                   f"{len(mine):>5} {sum(r[2] == Status.DELIVERED for r in mine):>5} "
                   f"{sum(r[2] == Status.RETURNED for r in mine):>5} "
                   + ", ".join(f"{r}/{c}" for r, c in seen))
        if agency and agency.customer_code and any(
                (r, c) != (route, agency.customer_code) for r, c in seen):
            wrong.append(f"đơn của {code} không đi đúng tuyến/tài khoản của đơn vị")
    return wrong
