"""One printable line per log record, whatever outside text it carries: set once per process."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from worker.domain.text import escape_controls

# Why a record factory and not a Filter or a Formatter: a Filter on a logger never sees the
# records of its children, and handlers and their formatters are made by three configurers
# at three moments (logging.basicConfig for the CLI, uvicorn's dictConfig for `handoff web`,
# Celery's own set-up inside `handoff worker` and `beat`). The factory makes every record of
# the process, so one call at start covers every logger, handler and formatter, those of
# the libraries included, and every call site that logs a path, header, agency code or
# feed text, with nothing to remember at the next one.


class SafeLogRecord(logging.LogRecord):
    """A log record whose message and string arguments show control characters, line
    separators and bidirectional overrides as \\x.. / \\u.... (see `escape_controls`)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # formatters that read the arguments themselves (uvicorn's access log) see them
        # escaped too
        if isinstance(self.args, tuple):
            self.args = tuple(_escaped(a) for a in self.args)
        elif isinstance(self.args, Mapping):
            self.args = {k: _escaped(v) for k, v in self.args.items()}

    def getMessage(self) -> str:  # noqa: N802 - logging's name
        # arguments that are not strings (an exception, a number, any object) are rendered
        # here: the whole line is escaped once more (a no-op on what already was)
        return escape_controls(super().getMessage())


def _escaped(value: object) -> object:
    return escape_controls(value) if isinstance(value, str) else value


def install() -> None:
    """Every record made from now on in this process is a `SafeLogRecord`."""
    logging.setLogRecordFactory(SafeLogRecord)
