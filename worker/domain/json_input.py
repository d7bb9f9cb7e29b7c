"""JSON from outside, parsed within bounds: nesting depth checked before the parser recurses,
NaN and Infinity (not JSON) refused, huge integers refused by Python's own digit limit."""

from __future__ import annotations

import json
import re
from typing import Any

from worker.domain.errors import InvalidInput

MAX_JSON_DEPTH = 32

# A string (possessive, so never re-scanned: an unclosed one runs to the end in one step)
# or a bracket. One pass over the body, linear in its length whatever it holds.
_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"?|[\[\]{}]', re.DOTALL)
_OPEN = frozenset(b"[{")


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in `body` (brackets inside strings do not count)."""
    depth = deepest = 0
    for match in _TOKEN.finditer(body):
        first = match.group(0)[0]
        if first in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif first != ord('"'):
            depth -= 1
    return deepest


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(body: bytes, max_depth: int = MAX_JSON_DEPTH, field: str = "body") -> Any:
    """The JSON value of `body`, or InvalidInput (code json.too_deep or json.invalid)."""
    if json_depth(body) > max_depth:
        raise InvalidInput(f"JSON lồng nhau quá {max_depth} cấp", field=field,
                           code="json.too_deep")
    try:
        return json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError):  # includes UnicodeDecodeError and huge integers
        raise InvalidInput("nội dung gửi lên không phải JSON hợp lệ", field=field,
                           code="json.invalid") from None
