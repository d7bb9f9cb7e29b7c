"""Keeps personal data out of the web process's access log (e.g. /ops/search?q=<phone>)."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

from worker.domain.privacy import mask_phone

# a run of 7+ digits, possibly spaced or dotted as people type phones ("+84 912 345 678")
_NUMBERISH = re.compile(r"\+?\d[\d\s.\-]{5,}\d")


def scrub_query(query: str) -> str:
    return _NUMBERISH.sub(lambda m: mask_phone(m.group(0)), unquote_plus(query))


class ScrubQueryStrings(logging.Filter):
    """Masks phone numbers in the request line uvicorn logs; other fields pass unchanged."""

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
