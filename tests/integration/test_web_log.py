"""What a stranger sends reaches the real web process's log escaped: one line per request."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from worker.stack import Stack

FORGED_QUERY = "x=%0D%0AFORGED%1B%5B2J"
PHONE_QUERY = "q=0912%20345%20678"


def _wait_for(log: Path, marker: bytes, timeout: float = 15.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_bytes()
        if marker in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{marker!r} never reached {log}: {log.read_bytes()[-2000:]!r}")


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
