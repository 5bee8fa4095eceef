"""JSON as users send it: orjson for speed, the standard library where orjson would change a value.

orjson reads an integer beyond 64 bits as a float and refuses to write one, so a payload such as
``{"id": 123456789012345678901234567890}`` would come back as ``1.2345678901234568e+29``. Such
integers have at least 20 digits; texts holding a run of 20 digits take the exact (slower) path.

orjson also refuses to write values nested more than 254 levels deep, and the standard library's
exact path recurses once per level, so the depth a value may have is bounded: a stored value
(``dumps_value``) is at most ``MAX_DEPTH`` levels deep, and an answer that wraps stored values a few
levels deeper (``dumps``) still fits Python's recursion limit with room for the caller's frames.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(rb"\d{20}")
MAX_DEPTH = 512


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: bytes | str) -> Any:
    """Parse JSON text; raises ValueError (``json.JSONDecodeError`` or orjson's) when it is not JSON."""
    raw = text.encode() if isinstance(text, str) else text
    if _LONG_DIGITS.search(raw):
        try:
            return json.loads(raw, parse_constant=_no_constants)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
    return orjson.loads(raw)


def dumps(value: Any) -> bytes:
    """Compact JSON text; raises TypeError/ValueError when ``value`` is not JSON."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        return _exact(value, exc)


def dumps_value(value: Any) -> bytes:
    """``dumps`` for a value the platform stores and serves again: also ValueError when it is nested
    more than ``MAX_DEPTH`` levels deep."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        if _depth(value) > MAX_DEPTH:
            raise ValueError(f"JSON nested more than {MAX_DEPTH} levels deep") from None
        return _exact(value, exc)


def _exact(value: Any, refused: orjson.JSONEncodeError) -> bytes:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError):
        raise refused from None


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value``, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest
