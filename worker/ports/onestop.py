"""The one-stop port: what the worker needs from the one-stop (dossier) system."""

from __future__ import annotations

from typing import Protocol

from worker.domain.model import OnestopPage, StatusPush


class OnestopPort(Protocol):
    """Raises worker.domain.errors.TransientError or PermanentError, nothing else."""

    def fetch_handoffs(self, after: str | None, limit: int = 500) -> OnestopPage: ...

    def push_status(self, push: StatusPush) -> bool:
        """Tell the one-stop a status; returns True when it says it had it already."""
        ...

    def get_dossier(self, dossier_code: str) -> dict: ...

    def close(self) -> None: ...
