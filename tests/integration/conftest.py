"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.carrier_admin import AdminCall, admin_of


@pytest.fixture
def admin(sim: str) -> Iterator[AdminCall]:
    """Admin calls to the carrier simulator the test module serves as `sim`, reset first
    (a module whose `sim` is another simulator defines its own `admin`)."""
    with admin_of(sim) as call:
        yield call
