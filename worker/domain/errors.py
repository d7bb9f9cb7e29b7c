"""The one error hierarchy: every failure is classified once, as transient or permanent."""

from __future__ import annotations


class HandoffError(Exception):
    """Base of every error the worker raises on purpose."""


class TransientError(HandoffError):
    """Worth retrying later: transport errors, timeouts, 5xx, 429, a token to refresh.

    ``retry_after`` is the wait (seconds) the other side asked for, if it said one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(HandoffError):
    """Retrying cannot help (4xx, carrier rejection, invalid data); a person must act.

    ``reason`` is written for a desk clerk (Vietnamese, plain), ``field`` names the bad
    field when there is one, ``code`` is the other side's raw code if any.
    """

    def __init__(self, reason: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(reason if field is None else f"{field}: {reason}")
        self.reason = reason
        self.field = field
        self.code = code


class InvalidInput(PermanentError):
    """A field of an incoming item is missing or wrong; the item is recorded, never posted."""


class NotFound(PermanentError):
    """The other side does not know the thing we named (unknown dossier, unknown order)."""


class CancelRefused(PermanentError):
    """The carrier answered a cancel with a Status other than 100: it refused, at that moment.

    An answer, not a fault: the hand-off stays where it is and whoever asked is told. Every
    other PermanentError of a cancel (HTTP 403/404, a rejected customer key) means the
    carrier never answered the question; those jobs go dead for ops to replay.
    ``code`` is the carrier's Status as it came.
    """
