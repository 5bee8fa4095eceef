"""JSON as users send it: orjson for speed, the standard library where orjson would change a value.

orjson reads an integer beyond 64 bits as a float and refuses to write one, so a payload such as
``{"id": 123456789012345678901234567890}`` would come back as ``1.2345678901234568e+29``. Such
integers have at least 20 digits; texts holding a run of 20 digits take the exact (slower) path.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(rb"\d{20}")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: bytes | str) -> Any:
    """Parse JSON text; raises ValueError (``json.JSONDecodeError`` or orjson's) when it is not JSON."""
    raw = text.encode() if isinstance(text, str) else text
    if _LONG_DIGITS.search(raw):
        return json.loads(raw, parse_constant=_no_constants)
    return orjson.loads(raw)


def dumps(value: Any) -> bytes:
    """Compact JSON text; raises TypeError/ValueError when ``value`` is not JSON."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError):
            raise exc from None
