"""JSON from outside, parsed within bounds: nesting depth checked before the parser recurses,
NaN and Infinity (not JSON) refused, huge integers refused by Python's own digit limit."""

from __future__ import annotations

import json
import re
from typing import Any

from worker.domain.errors import InvalidInput

MAX_JSON_DEPTH = 32

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in `body` (brackets inside strings do not count)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', body)):
        if match.group(0) in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
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
