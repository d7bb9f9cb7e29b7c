"""Property tests of the access log and of every log line carrying outside text: whatever a
stranger sends, one printable line (control characters shown as \\x..), the query still
percent-encoded, phones masked; a traceback only its own lines; uvicorn's colours kept."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, unquote, unquote_plus

import pytest
from celery import Celery
from celery.utils.log import ColorFormatter
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from uvicorn.config import LOGGING_CONFIG, Config
from uvicorn.logging import AccessFormatter, DefaultFormatter
from uvicorn.protocols.utils import get_path_with_query_string
from uvicorn.server import Server

from integrations.carriers.vnpost.feed import parse_tracking_page
from worker.cli.main import main
from worker.domain.text import escape_controls
from worker.launch import logsafe
from worker.web.logfilter import ScrubQueryStrings

PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
# what must never reach a log line raw: controls (CR/LF, ESC, C1 CSI), line and paragraph
# separators, bidirectional overrides, lone surrogates
UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u200e\u200f"
                    r"\u202a-\u202e\u2066-\u2069]")
FORGED = ["\r\n", "\r", "\n", "\x1b[2J", "\x1b]0;x\x07", "\x9b31m", "\x85", "\x00",
          "\u2028", "\u2029", "\u202e", "\u2066", "\ud800", "\x0b\x0c\x1c"]
any_text = st.text(st.characters(codec=None, categories=None), max_size=40)
forged_text = st.lists(st.sampled_from(FORGED) | any_text, min_size=1, max_size=6).map("".join)
# what h11 admits in a request target: visible ASCII
ascii_query = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1,
                      max_size=60)
# the formatters of the three configurers: the CLI's, `handoff web`'s, `handoff worker`'s
FORMATTERS = [logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"),
              DefaultFormatter(fmt="%(levelprefix)s %(message)s", use_colors=False),
              ColorFormatter("[%(asctime)s: %(levelname)s] %(message)s", use_color=False)]
phones = st.tuples(st.sampled_from("35789"), st.text("0123456789", min_size=8, max_size=8)
                   ).map(lambda t: "0" + t[0] + t[1])


@pytest.fixture(scope="module", autouse=True)
def _safe_records() -> Iterator[None]:
    """The record factory of a `handoff` process, for this module only."""
    before = logging.getLogRecordFactory()
    logsafe.install()
    yield
    logging.setLogRecordFactory(before)


def _logger(name: str, formatter: logging.Formatter,
            *filters: logging.Filter) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.filters[:] = list(filters)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


@contextmanager
def _library_logger(name: str, formatter: logging.Formatter
                    ) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """`_logger` on a library's own logger, given back as it was."""
    logger = logging.getLogger(name)
    before = logger.handlers[:], logger.filters[:], logger.propagate, logger.level
    try:
        yield _logger(name, formatter)
    finally:
        logger.handlers[:], logger.filters[:], logger.propagate, logger.level = before


def _access_line(path: str, query: str) -> str:
    """The line uvicorn's access logger writes for a request, as `handoff web` sets it up
    (uvicorn's own formatter, our phone filter)."""
    fmt = LOGGING_CONFIG["formatters"]["access"]["fmt"]
    logger, out = _logger("tests.access", AccessFormatter(fmt=fmt, use_colors=False),
                          ScrubQueryStrings())
    scope = {"path": path, "query_string": query.encode("ascii")}
    # uvicorn's h11 protocol, word for word
    logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
                get_path_with_query_string(scope), "1.1", 200)  # type: ignore[arg-type]
    return out.getvalue()


def _sent(text: str) -> str:
    """`text` as a client puts it on the wire: its bytes (any, even a lone surrogate's)
    percent-encoded."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _one_line(written: str) -> str:
    assert written.endswith("\n")
    line = written[:-1]
    assert not UNSAFE.search(line), repr(line)
    assert len(line.splitlines()) <= 1, repr(line)
    return line


@PROPERTY
@given(forged_text, forged_text)
def test_a_forged_query_or_path_is_one_line_and_the_query_stays_percent_encoded(
        path: str, value: str) -> None:
    query = "x=" + _sent(value)
    # the path as uvicorn puts it in the scope: decoded (bytes that are no UTF-8 as U+FFFD)
    line = _one_line(_access_line("/healthz" + unquote(_sent(path)), query))
    if not re.search(r"\d[\d\s.\-+]{5,}\d", value):  # nothing that could be a phone
        assert f"?{query} HTTP/1.1" in line


@PROPERTY
@given(ascii_query)
def test_any_query_h11_admits_is_logged_as_sent_unless_it_holds_a_phone(query: str) -> None:
    line = _one_line(_access_line("/ops/search", query))
    if not re.search(r"\d[\d\s.\-+]{5,}\d", unquote_plus(query)):
        assert f"/ops/search?{query} HTTP/1.1" in line


@PROPERTY
@given(phones, st.sampled_from([" ", "%20", "+", ".", "-", ""]), forged_text)
def test_a_phone_in_the_query_is_masked_however_it_is_spaced(phone: str, sep: str,
                                                             around: str) -> None:
    spaced = sep.join((phone[:4], phone[4:7], phone[7:])) if sep else phone
    query = f"a={_sent(around)}&q={spaced.replace(' ', '%20')}"
    line = _one_line(_access_line("/ops/search", query))
    shown = re.search(r"&q=([^& ]*) HTTP", line)
    assert shown is not None and shown.group(1) == f"{phone[:2]}****{phone[-3:]}", line


@PROPERTY
@given(forged_text)
def test_outside_text_in_any_log_line_is_one_line_whatever_the_formatter(text: str) -> None:
    for formatter in FORMATTERS:
        logger, out = _logger("tests.outside", formatter)
        logger.warning("agency %s: %r", text, text)  # an argument, shown or repr'd
        logger.warning(text)  # the text as the message itself
        logger.warning("feed: %s", ValueError(text))  # inside an object's str()
        lines = out.getvalue().split("\n")
        assert lines[-1] == "" and len(lines) == 4, lines
        for line in lines[:-1]:
            _one_line(line + "\n")
        assert escape_controls(text) in lines[0] and escape_controls(text) in lines[1]


def _failed(text: str) -> None:
    """Fails the way a feed or a library does: outside text in an exception's message, in
    its cause and in a note."""
    try:
        raise KeyError(text)
    except KeyError as cause:
        err = ValueError(f"order {text}")
        err.add_note(f"while reading {text}")
        raise err from cause


def _traceback_lines(formatter: logging.Formatter, text: str) -> list[str]:
    logger, out = _logger("tests.traceback", formatter)
    try:
        _failed(text)
    except ValueError as err:
        logger.exception("feed failed")  # inside the handler
        failed = err
    logger.error("feed failed", exc_info=failed)  # as uvicorn logs an error in the app
    try:
        raise ExceptionGroup("tasks failed", [failed, OSError(f"order {text}")])
    except ExceptionGroup as group:
        logger.warning("group", exc_info=group)
    written = out.getvalue()
    assert written.endswith("\n")
    return written[:-1].split("\n")


@PROPERTY
@given(forged_text)
def test_a_logged_exception_carrying_outside_text_forges_no_line_and_no_escape(
        text: str) -> None:
    for formatter in FORMATTERS:
        lines = _traceback_lines(formatter, text)
        for line in lines:
            _one_line(line + "\n")
        # the traceback's own lines, no more: as many as with a plain message
        assert len(lines) == len(_traceback_lines(formatter, "plain")), lines
        shown = escape_controls(text)
        assert lines.count(f"ValueError: order {shown}") == 2, lines
        assert lines.count(f"while reading {shown}") == 2, lines
        assert f"    | ValueError: order {shown}" in lines, lines
        assert f"    | OSError: order {shown}" in lines, lines


def test_a_failed_celery_task_is_logged_with_its_traceback_escaped() -> None:
    """Celery's own failure log (celery.app.trace, its formatter): the traceback kept
    readable, the exception's outside text one escaped line."""
    app = Celery("tests.logsafe", set_as_current=False)

    @app.task(name="tests.boom")
    def boom(text: str) -> None:
        raise ValueError(text)

    formatter = ColorFormatter(app.conf.worker_log_format, use_color=False)
    with _library_logger("celery.app.trace", formatter) as (_, out):
        boom.apply(args=("HS1\r\n[2026-01-01 00:00:00,000: INFO] FORGED\x1b[2J",))
    lines = out.getvalue().split("\n")
    assert "Traceback (most recent call last):" in lines and "    raise ValueError(text)" in lines
    assert lines[-2] == "ValueError: HS1\\x0d\\x0a[2026-01-01 00:00:00,000: INFO] FORGED\\x1b[2J"
    assert not any(line.startswith("[2026-01-01") for line in lines), lines
    for line in lines[:-1]:
        _one_line(line + "\n")


def test_uvicorn_on_a_terminal_keeps_its_colours() -> None:
    """`handoff web` on a terminal: uvicorn's own coloured line as uvicorn writes it."""
    config = Config(app=lambda: None, host="127.0.0.1", port=8000, log_config=None)
    config.ssl = None  # what config.load() sets without SSL
    formatter = DefaultFormatter(fmt="%(levelprefix)s %(message)s", use_colors=True)
    with _library_logger("uvicorn.error", formatter) as (_, out):
        Server(config)._log_started_message([])
    assert out.getvalue() == ("\x1b[32mINFO\x1b[0m:     Uvicorn running on "
                              "\x1b[1mhttp://127.0.0.1:8000\x1b[0m (Press CTRL+C to quit)\n")


@PROPERTY
@given(forged_text)
def test_a_coloured_message_shows_outside_text_escaped(text: str) -> None:
    logger, out = _logger("tests.colours", DefaultFormatter(fmt="%(message)s", use_colors=True))
    colour = "running on \x1b[1m%s\x1b[0m%s"
    logger.info("running on %s%s", text, "", extra={"color_message": colour})
    logger.info("running on %s%s", text, ValueError(text), extra={"color_message": colour})
    first, second, end = out.getvalue().split("\n")
    assert first == f"running on \x1b[1m{escape_controls(text)}\x1b[0m" and end == ""
    # an object's str() is outside text too: that line goes without colours
    assert second == escape_controls(f"running on {text}{text}")


@PROPERTY
@given(st.text(st.sampled_from("aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạếềểễệốồổỗộớờởỡợ .,-/"),
               max_size=40))
def test_printable_text_is_logged_unchanged(text: str) -> None:
    logger, out = _logger("tests.printable", logging.Formatter("%(message)s"))
    logger.warning("agency %s", text)
    assert out.getvalue() == f"agency {text}\n"
    assert escape_controls(escape_controls(text)) == escape_controls(text) == text


def test_a_hostile_order_number_in_the_carrier_feed_is_one_escaped_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    doc = {"_id": {"$oid": "65a000000000000000000001"}, "OrderNumber": "HS1\u2028FORGED\u202e",
           "StatusCode": 999, "EventTime": 1_735_689_600_000}
    with caplog.at_level(logging.WARNING, logger="integrations.carriers.vnpost.feed"):
        parse_tracking_page({"_embedded": {"rh:doc": [doc]}}, None)
    assert "unknown carrier status code 999 on order HS1\\u2028FORGED\\u202e" in caplog.text
    assert not UNSAFE.search(caplog.text.replace("\n", ""))


def test_every_handoff_process_makes_safe_records_from_its_start() -> None:
    logging.setLogRecordFactory(logging.LogRecord)  # as a fresh interpreter has it
    result = CliRunner().invoke(main, ["secrets"])  # any command: the group starts them all
    assert result.exit_code == 0, result.output
    assert logging.getLogRecordFactory() is logsafe.SafeLogRecord
