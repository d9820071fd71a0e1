"""JavaScript value semantics the wire formats depend on.

The real server is Node: numbers are doubles, `undefined` differs from `null`, and
Dates print with `toISOString()`. Python has none of these exactly, so this module
pins them down once for both codecs.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Final


class _Undefined:
    """JavaScript `undefined`: a key that is present in the source object but has no value."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()

# Integral doubles below this print without a fraction or exponent in JavaScript.
_JS_INTEGER_PRINT_LIMIT = 1e21


def js_number(value: float) -> int | float:
    """The Python number whose JSON text equals JavaScript's for the same double.

    JavaScript prints 7.0 as `7`; Python would print `7.0`. NaN and the infinities
    are returned unchanged: each codec has its own way of writing them.
    """
    if isinstance(value, int):
        return value
    if math.isfinite(value) and value.is_integer() and abs(value) < _JS_INTEGER_PRINT_LIMIT:
        if value == 0 and math.copysign(1.0, value) < 0:
            return value
        return int(value)
    return value


def js_number_text(value: int | float) -> str:
    """`String(n)` of a finite JavaScript number."""
    if isinstance(value, int):
        return str(value)
    number = js_number(value)
    if isinstance(number, int):
        return str(number)
    text = repr(number)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    return text


def iso_date(value: datetime) -> str:
    """`Date.prototype.toISOString()`: UTC, milliseconds, a trailing Z."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_iso_date(text: str) -> datetime:
    """`new Date(text)` for the ISO strings the codecs carry; ValueError otherwise."""
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    parsed = datetime.fromisoformat(candidate)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def js_type_name(value: Any) -> str:
    """The type name zod reports as "received ..." for a decoded input value."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "number"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, datetime):
        return "Date"
    if isinstance(value, set | frozenset):
        return "set"
    return "object"
