"""The carrier port: what the worker needs from any postal carrier."""

from __future__ import annotations

from typing import Protocol

from worker.domain.model import CarrierOrder, FeedPage, PostOutcome


class CarrierPort(Protocol):
    """Raises worker.domain.errors.TransientError or PermanentError, nothing else."""

    def post_order(self, order: CarrierOrder) -> PostOutcome: ...

    def cancel_order(self, order_number: str) -> str:
        """Cancel; returns the carrier's message. CancelRefused (a PermanentError) when the
        carrier answers that it will not cancel."""
        ...

    def fetch_events(self, last_id: str | None, page_size: int = 1000) -> FeedPage: ...

    def close(self) -> None: ...
