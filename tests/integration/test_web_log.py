"""What a stranger sends reaches the real web process's log escaped: one line per request;
uvicorn's own colours still shown on a terminal."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.waits import wait_for
from worker.launch.stack import Stack

FORGED_QUERY = "x=%0D%0AFORGED%1B%5B2J"
PHONE_QUERY = "q=0912%20345%20678"


def _wait_for(log: Path, marker: bytes, timeout: float = 15.0) -> bytes:
    def text_with_marker() -> bytes:
        text = log.read_bytes()
        return text if marker in text else b""

    return wait_for(text_with_marker, f"{marker!r} in {log}", timeout, every=0.1,
                    seen=lambda: f"{log.read_bytes()[-2000:]!r}")


@pytest.mark.processes
def test_a_forged_query_is_one_percent_encoded_line_in_the_web_log(tmp_path: Path) -> None:
    with Stack(home=tmp_path / "home") as stack:
        stack.start_web()
        base = stack.web_url
        assert httpx.get(f"{base}healthz?{FORGED_QUERY}").status_code == 200
        httpx.get(f"{base}healthz%0D%0AFORGED-PATH%1B%5B2J")  # a 404, its path decoded
        httpx.get(f"{base}ops/search?{PHONE_QUERY}")  # a redirect to the login page
        httpx.get(f"{base}healthz?last=1")  # lines are written in order: this one last
        text = _wait_for(stack.home / "web.log", b"/healthz?last=1")
    assert b"\x1b" not in text and b"\r" not in text and b"\x9b" not in text
    forged = [line for line in text.split(b"\n") if b"FORGED" in line]
    assert len(forged) == 2, forged  # one line per request, nothing starts a line of its own
    assert f'"GET /healthz?{FORGED_QUERY} HTTP/1.1" 200'.encode() in forged[0]
    assert b'"GET /healthz%0D%0AFORGED-PATH%1B%5B2J HTTP/1.1" 404' in forged[1]
    searched = [line for line in text.split(b"\n") if b"/ops/search" in line]
    assert len(searched) == 1 and b"q=09****678" in searched[0], searched
    assert b"345" not in searched[0]


def _read_until(fd: int, marker: bytes, timeout: float = 30.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"{marker!r} never shown: {seen[-2000:]!r}")
        seen += os.read(fd, 4096)
    return seen


@pytest.mark.processes
def test_on_a_terminal_the_start_up_line_keeps_uvicorns_colours(tmp_path: Path) -> None:
    stack = Stack(home=tmp_path / "home")
    stack.home.mkdir(parents=True)
    screen, terminal = pty.openpty()  # uvicorn colours its lines when stdout is a terminal
    web = subprocess.Popen([sys.executable, "-m", "worker.cli", "web", "--port",
                            str(stack.web_port)], env=stack.env(), stdin=subprocess.DEVNULL,
                           stdout=terminal, stderr=terminal, start_new_session=True)
    os.close(terminal)
    try:
        shown = _read_until(screen, b"(Press CTRL+C to quit)")
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=10)
        os.close(screen)
    running = f"Uvicorn running on \x1b[1mhttp://127.0.0.1:{stack.web_port}\x1b[0m"
    assert running.encode() in shown, shown
    assert b"\\x1b" not in shown, shown
