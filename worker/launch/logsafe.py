"""One printable line per log record, whatever outside text it carries: set once per process."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

from worker.domain.text import escape_controls

# Why a record factory and not a Filter or a Formatter: a Filter on a logger never sees the
# records of its children, and handlers and their formatters are made by three configurers
# at three moments (logging.basicConfig for the CLI, uvicorn's dictConfig for `handoff web`,
# Celery's own set-up inside `handoff worker` and `beat`). The factory makes every record of
# the process, so one call at start covers every logger, handler and formatter, those of
# the libraries included, and every call site that logs a path, header, agency code or
# feed text, with nothing to remember at the next one.

# A colour or bold code (select graphic rendition): all uvicorn's `color_message` carries.
_SGR = re.compile(r"(\x1b\[[0-9;]*m)")
_PLAIN = (str, int, float)

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class SafeLogRecord(logging.LogRecord):
    """A log record whose message, string arguments and traceback show control characters,
    line separators and bidirectional overrides as \\x.. / \\u.... (see `escape_controls`)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # formatters that read the arguments themselves (uvicorn's access log) see them
        # escaped too
        if isinstance(self.args, tuple):
            self.args = tuple(_escaped(a) for a in self.args)
        elif isinstance(self.args, Mapping):
            self.args = {k: _escaped(v) for k, v in self.args.items()}
        # A formatter writes the traceback outside getMessage, from exc_text when it is set
        # (logging.Formatter.format, which uvicorn's and Celery's formatters use): set here,
        # every formatter writes the safe one.
        if isinstance(self.exc_info, tuple) and self.exc_info[1] is not None:
            self.exc_text = safe_traceback(self.exc_info)  # type: ignore[arg-type]

    def getMessage(self) -> str:  # noqa: N802 - logging's name
        colours = self.__dict__.get("color_message")
        if isinstance(colours, str) and self.msg is colours:
            return _coloured(colours, self.args)
        # arguments that are not strings (an exception, a number, any object) are rendered
        # here: the whole line is escaped once more (a no-op on what already was)
        return escape_controls(super().getMessage())


def _escaped(value: object) -> object:
    return escape_controls(value) if isinstance(value, str) else value


def _coloured(template: str, args: object) -> str:
    """uvicorn's `color_message` on a terminal (its formatter swaps it in for the message):
    its colour codes kept, everything else escaped. Colours only when every argument is
    plain (text escaped when the record was made, numbers): an object's own str() could
    bring colour codes from outside, so then the line goes without any."""
    values = args.values() if isinstance(args, Mapping) else args or ()
    if not all(type(v) in _PLAIN for v in values):  # type: ignore[attr-defined]
        plain = _SGR.sub("", template)
        return escape_controls(plain % args if args else plain)
    text = template % args if args else template
    return "".join(part if i % 2 else escape_controls(part)
                   for i, part in enumerate(_SGR.split(text)))


def safe_traceback(exc_info: ExcInfo) -> str:
    """The traceback `logging.Formatter.formatException` writes, the text that comes with
    the exceptions (messages, notes, a syntax error's line) escaped: its lines are the
    traceback's own, never a line of outside text."""
    value, tb = exc_info[1], exc_info[2]
    try:
        found = traceback.TracebackException(type(value), value, tb, compact=True)
        _escape_messages(found)
        text = "".join(found.format()).removesuffix("\n")
    except Exception:  # a traceback that cannot be walked: say what it was
        text = f"{type(value).__qualname__}: <traceback not shown: it could not be formatted>"
    # what is left is our own (file names, source lines read from disk, type names): any
    # control in it is escaped all the same, the newlines between lines kept
    return "\n".join(escape_controls(line) for line in text.split("\n"))


def _escape_messages(found: traceback.TracebackException) -> None:
    """Escape the outside text of `found`, its causes, contexts and group members.

    The message is `_str`, captured at construction (the stdlib has no public way to
    change it): a Python without it gets the one-line fallback of `safe_traceback`, still
    safe, and tests/unit/test_log_lines_property.py fails, so it is noticed."""
    todo: list[traceback.TracebackException | None] = [found]
    seen: set[int] = set()
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        node._str = escape_controls(node._str)  # type: ignore[attr-defined]
        notes = node.__notes__
        if isinstance(notes, Sequence) and not isinstance(notes, str):
            node.__notes__ = [escape_controls(_text(note)) for note in notes]
        elif notes is not None:
            node.__notes__ = [escape_controls(_text(notes, repr))]
        for field in ("filename", "text", "msg"):  # a SyntaxError's
            shown = getattr(node, field, None)
            if isinstance(shown, str):
                setattr(node, field, escape_controls(shown.rstrip("\r\n")))
        todo += [node.__cause__, node.__context__, *(node.exceptions or ())]


def _text(value: object, render: Callable[[object], str] = str) -> str:
    try:
        return value if isinstance(value, str) else render(value)
    except Exception:  # a hostile __str__ / __repr__
        return f"<{type(value).__name__}: not shown>"


def install() -> None:
    """Every record made from now on in this process is a `SafeLogRecord`."""
    logging.setLogRecordFactory(SafeLogRecord)
