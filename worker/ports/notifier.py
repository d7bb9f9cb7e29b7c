"""The notifier port: where SLA-breach notifications go (a signed webhook in production)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class NotifierPort(Protocol):
    """Raises worker.domain.errors.TransientError or PermanentError, nothing else."""

    def notify(self, message_id: str, body: Mapping[str, Any]) -> None:
        """Deliver one notification. `message_id` is stable: a receiver dedupes on it."""
        ...

    def close(self) -> None: ...
