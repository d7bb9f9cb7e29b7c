"""Keeps personal data out of the web process's access log (e.g. /ops/search?q=<phone>)."""

from __future__ import annotations

import logging
import re
from urllib.parse import quote_plus, unquote_plus

from worker.domain.privacy import mask_phone

# a run of 7+ digits, possibly spaced or dotted as people type phones ("+84 912 345 678")
_NUMBERISH = re.compile(r"\+?\d[\d\s.\-]{5,}\d")


def scrub_query(query: str) -> str:
    """The query string as the client sent it (still percent-encoded: a stranger's %0D%0A
    stays six printable characters), each name or value holding a phone masked."""
    return "&".join("=".join(_scrub_part(p) for p in pair.split("=", 1))
                    for pair in query.split("&"))


def _scrub_part(raw: str) -> str:
    # judged decoded ("0912+345%20678" is a phone), written back encoded, and only if a
    # phone was there: otherwise the part stays byte for byte what was sent
    decoded = unquote_plus(raw)
    masked = _NUMBERISH.sub(lambda m: mask_phone(m.group(0)), decoded)
    return raw if masked == decoded else quote_plus(masked, safe="*")


class ScrubQueryStrings(logging.Filter):
    """Masks phone numbers in the request line uvicorn logs; other fields pass unchanged
    (control characters in any of them are escaped for every record: worker/launch/logsafe.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            path = str(args[2])
            if "?" in path:
                base, query = path.split("?", 1)
                args[2] = f"{base}?{scrub_query(query)}"
                record.args = tuple(args)
        return True


def install() -> None:
    logging.getLogger("uvicorn.access").addFilter(ScrubQueryStrings())
