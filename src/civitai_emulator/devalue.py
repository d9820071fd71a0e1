"""devalue 5 `stringify` and `parse`, the second wire format of the Civitai server.

A devalue string is a JSON array, a pool of values: index 0 is the root; an object
is written as `{"key": <pool index>}`, an array as `[<pool index>, ...]`, a Date as
`["Date", "<ISO>"]`. Negative indices stand for values that have no JSON form:
-1 undefined, -2 an array hole, -3 NaN, -4 Infinity, -5 -Infinity, -6 -0. Equal
primitives share one pool slot; objects share one only when they are the same object.
Strings escape `<`, backslash, control characters and U+2028/U+2029 as devalue does.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from civitai_emulator.jsvalues import UNDEFINED, iso_date, js_number, js_number_text, parse_iso_date

UNDEFINED_INDEX = -1
HOLE = -2
NAN = -3
POSITIVE_INFINITY = -4
NEGATIVE_INFINITY = -5
NEGATIVE_ZERO = -6

_ESCAPES = {
    '"': '\\"',
    "<": "\\u003C",
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


class DevalueError(ValueError):
    """The text is not a valid devalue string."""


def stringify_string(text: str) -> str:
    out = ['"']
    for char in text:
        replacement = _ESCAPES.get(char)
        if replacement is not None:
            out.append(replacement)
        elif char < " " or "\ud800" <= char <= "\udfff":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


class _Flattener:
    def __init__(self) -> None:
        self.pool: list[str] = []
        self.indexes: dict[Any, int] = {}
        self.keep_alive: list[Any] = []

    def flatten(self, thing: Any) -> int:
        special = _special_index(thing)
        if special is not None:
            return special
        key = _identity_key(thing)
        if key in self.indexes:
            return self.indexes[key]
        index = len(self.pool)
        self.indexes[key] = index
        self.pool.append("")
        if not _is_primitive(thing):
            self.keep_alive.append(thing)
        self.pool[index] = self._text(thing)
        return index

    def _text(self, thing: Any) -> str:
        if thing is None:
            return "null"
        if isinstance(thing, bool):
            return "true" if thing else "false"
        if isinstance(thing, int | float):
            return js_number_text(thing)
        if isinstance(thing, str):
            return stringify_string(thing)
        if isinstance(thing, datetime):
            return f'["Date","{iso_date(thing)}"]'
        if isinstance(thing, set | frozenset):
            return '["Set"' + "".join(f",{self.flatten(v)}" for v in thing) + "]"
        if isinstance(thing, list | tuple):
            return "[" + ",".join(str(self.flatten(v)) for v in thing) + "]"
        if isinstance(thing, dict):
            parts = [f"{stringify_string(str(k))}:{self.flatten(v)}" for k, v in thing.items()]
            return "{" + ",".join(parts) + "}"
        raise DevalueError(f"Cannot stringify {type(thing).__name__}")


def _special_index(thing: Any) -> int | None:
    if thing is UNDEFINED:
        return UNDEFINED_INDEX
    if isinstance(thing, float):
        if math.isnan(thing):
            return NAN
        if thing == math.inf:
            return POSITIVE_INFINITY
        if thing == -math.inf:
            return NEGATIVE_INFINITY
        if thing == 0 and math.copysign(1.0, thing) < 0:
            return NEGATIVE_ZERO
    return None


def _is_primitive(thing: Any) -> bool:
    return thing is None or isinstance(thing, bool | int | float | str)


def _identity_key(thing: Any) -> Any:
    """Map key with JavaScript's SameValueZero: primitives by value, objects by identity."""
    if thing is None:
        return ("null",)
    if isinstance(thing, bool):
        return ("boolean", thing)
    if isinstance(thing, int | float):
        return ("number", js_number(thing))
    if isinstance(thing, str):
        return ("string", thing)
    return ("object", id(thing))


def stringify(value: Any) -> str:
    """`devalue.stringify(value)`."""
    flattener = _Flattener()
    index = flattener.flatten(value)
    if index < 0:
        return str(index)
    return "[" + ",".join(flattener.pool) + "]"


# ---------------------------------------------------------------------- parse


def parse(text: str) -> Any:
    """`devalue.parse(text)`; raises DevalueError("Invalid input") like devalue."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise DevalueError(str(error)) from error
    return unflatten(parsed)


def unflatten(parsed: Any) -> Any:
    if isinstance(parsed, int | float) and not isinstance(parsed, bool):
        return _constant(parsed, standalone=True)
    if not isinstance(parsed, list) or not parsed:
        raise DevalueError("Invalid input")
    return _Hydrator(parsed).hydrate(0)


def _constant(index: Any, standalone: bool = False) -> Any:
    constants = {
        UNDEFINED_INDEX: UNDEFINED,
        NAN: math.nan,
        POSITIVE_INFINITY: math.inf,
        NEGATIVE_INFINITY: -math.inf,
        NEGATIVE_ZERO: -0.0,
    }
    if isinstance(index, int) and not isinstance(index, bool) and index in constants:
        return constants[index]
    if standalone:
        raise DevalueError("Invalid input")
    return _NOT_CONSTANT


_NOT_CONSTANT = object()


class _Hydrator:
    def __init__(self, values: list[Any]) -> None:
        self.values = values
        self.hydrated: dict[int, Any] = {}

    def hydrate(self, index: Any) -> Any:
        constant = _constant(index)
        if constant is not _NOT_CONSTANT:
            return constant
        if not isinstance(index, int) or isinstance(index, bool):
            raise DevalueError("Invalid input")
        if index in self.hydrated:
            return self.hydrated[index]
        if not 0 <= index < len(self.values):
            raise DevalueError("Invalid input")
        value = self.values[index]
        if isinstance(value, list) and value and isinstance(value[0], str):
            return self._special(index, value)
        if isinstance(value, list):
            array: list[Any] = []
            self.hydrated[index] = array
            for item in value:
                array.append(UNDEFINED if item == HOLE else self.hydrate(item))
            return array
        if isinstance(value, dict):
            obj: dict[str, Any] = {}
            self.hydrated[index] = obj
            for key, item in value.items():
                obj[key] = self.hydrate(item)
            return obj
        self.hydrated[index] = value
        return value

    def _special(self, index: int, value: list[Any]) -> Any:
        kind = value[0]
        if kind == "Date":
            try:
                result: Any = parse_iso_date(value[1])
            except (ValueError, IndexError, TypeError) as error:
                raise DevalueError("Invalid Date") from error
        elif kind == "Set":
            result = []
            self.hydrated[index] = result
            result.extend(self.hydrate(i) for i in value[1:])
        elif kind == "Map":
            result = {}
            self.hydrated[index] = result
            for position in range(1, len(value) - 1, 2):
                result[str(self.hydrate(value[position]))] = self.hydrate(value[position + 1])
        elif kind == "null":
            result = {}
            self.hydrated[index] = result
            for position in range(1, len(value) - 1, 2):
                result[str(value[position])] = self.hydrate(value[position + 1])
        elif kind == "BigInt":
            result = int(value[1])
        elif kind in ("Object", "RegExp", "URL", "URLSearchParams"):
            result = value[1]
        else:
            raise DevalueError(f"Unknown type {kind}")
        self.hydrated[index] = result
        return result
