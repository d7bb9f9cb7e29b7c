"""JSON from outside, parsed within bounds: nesting depth checked before the parser recurses,
NaN and Infinity (not JSON) refused, huge integers refused by Python's own digit limit."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from worker.domain.errors import InvalidInput

MAX_JSON_DEPTH = 32
INVALID = "nội dung gửi lên không phải JSON hợp lệ"  # said to a sender: no detail

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


class _NotJson(ValueError):
    """What Python's parser takes (or chokes on) but JSON from outside must not hold; its
    message is ours, in Vietnamese, and safe to show."""


def _no_constants(name: str) -> Any:
    raise _NotJson(f"{name} không phải giá trị JSON")


def _whole_number(digits: str) -> int:
    """int(), with the digit limit told plainly instead of Python's own message."""
    if len(digits.lstrip("-")) > sys.get_int_max_str_digits():
        raise _NotJson(f"có số dài quá {sys.get_int_max_str_digits()} chữ số")
    return int(digits)


def _keys_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # the parser would let the second silently win over the first
            raise _NotJson(f"khóa '{key[:40]}' có hai lần trong một object")
        out[key] = value
    return out


def loads(body: bytes | str, max_depth: int = MAX_JSON_DEPTH, field: str = "body", *,
          unique_keys: bool = False, detailed: bool = False) -> Any:
    """The JSON value of `body`, or InvalidInput (code json.too_deep or json.invalid).

    `unique_keys`: a key given twice in one object is refused (else the last one wins).
    `detailed`: the reason says what is wrong (the line and column of a syntax error, NaN,
    a huge number, the repeated key) for an operator's own file; otherwise a sender is told
    only that the body is not JSON.
    """
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if json_depth(raw) > max_depth:
        raise InvalidInput(f"JSON lồng nhau quá {max_depth} cấp", field=field,
                           code="json.too_deep")
    try:
        return json.loads(body, parse_constant=_no_constants,
                          parse_int=_whole_number if detailed else None,
                          object_pairs_hook=_keys_once if unique_keys else None)
    except json.JSONDecodeError as err:  # its position only, never the text
        reason = f"không phải JSON hợp lệ (dòng {err.lineno}, cột {err.colno})"
    except _NotJson as err:
        reason = str(err)
    except (ValueError, RecursionError):  # includes UnicodeDecodeError and huge integers
        reason = "không phải JSON hợp lệ"
    raise InvalidInput(reason if detailed else INVALID, field=field, code="json.invalid")
