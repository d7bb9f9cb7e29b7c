"""The carrier simulator's admin calls, on a fresh (reset) simulator (tests only)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

AdminCall = Callable[..., dict]


@contextmanager
def admin_of(base_url: str) -> Iterator[AdminCall]:
    """`call(path)` GETs an admin path, `call(path, body)` POSTs it; the simulator is reset
    first."""
    with httpx.Client(base_url=base_url, timeout=5) as http:
        http.post("_admin/reset").raise_for_status()

        def call(path: str, body: dict | None = None) -> dict:
            response = http.post(path, json=body) if body is not None else http.get(path)
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]

        yield call
