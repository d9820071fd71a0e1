"""The two wire encodings Civitai's tRPC server writes: superjson and devalue.

Pods write superjson (`{"json": ..., "meta": {"values": ...}}`) by default;
pods with `TRPC_WRITE_DEVALUE=true` write a devalue string instead, for
results and errors alike (civitai/civitai @ ebed6616,
src/shared/utils/trpc-union-transformer.ts). The client reads both and
produces plain Python values:

- JS Dates become timezone-aware `datetime`s (UTC);
- `undefined` object members are left out (the key is absent), `undefined`
  array entries and holes become `None`;
- `referentialEqualities` is ignored: values are never deduplicated, so
  every copy is already in place;
- Maps become dicts (a list of pairs when a key is not hashable), Sets become
  lists, BigInts ints, RegExps and URLs their source strings.

Decoding is bounded (`Budget`): nesting deeper than `max_depth` or more than
`max_values` values in the decoded copy raise `CodecLimit`. devalue lets one
pool entry be referenced many times, so a few hundred bytes can stand for
billions of values once every reference is a copy of its own; the count is
of the copy, so such a payload stops after `max_values`, not after the memory.

The encoders are the inverse for the subset the client sends (inputs) and for
tests that check the decoders on generated values.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "Budget",
    "CodecError",
    "CodecLimit",
    "decode_devalue",
    "decode_superjson",
    "encode_devalue",
    "encode_superjson",
    "from_js_date",
    "to_js_date",
]


class CodecError(ValueError):
    """The payload is not valid superjson or devalue."""


class CodecLimit(CodecError):
    """The payload went past a decoding bound; `limit` is "json_depth" or "answer_values"."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class Budget:
    """What one decoding may build: nesting depth, and values in the decoded copy."""

    def __init__(self, max_depth: int = 100, max_values: int = 1_000_000) -> None:
        self.max_depth = max_depth
        self.max_values = max_values
        self.used = 0

    def take(self, count: int, depth: int) -> None:
        if depth > self.max_depth:
            raise CodecLimit(f"nested deeper than {self.max_depth} levels", "json_depth")
        self.used += count
        if self.used > self.max_values:
            raise CodecLimit(f"more than {self.max_values:,} values once decoded", "answer_values")


class _Undefined:
    """JavaScript's `undefined` while a value is being rebuilt."""

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Any = _Undefined()


# ---------------------------------------------------------------- dates


def from_js_date(text: Any) -> datetime | None:
    """A JS `Date.toISOString()` string as an aware datetime; None for an invalid Date."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def to_js_date(value: datetime) -> str:
    """What `Date.toISOString()` prints: UTC, milliseconds, a trailing Z."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------- superjson


def decode_superjson(payload: Any, budget: Budget | None = None) -> Any:
    """The value a superjson envelope (`{"json": ..., "meta": ...}`) stands for."""
    if not isinstance(payload, dict) or "json" not in payload:
        raise CodecError("not a superjson envelope (no 'json' key)")
    budget = budget or Budget()
    value = payload["json"]
    meta = payload.get("meta")
    values = meta.get("values") if isinstance(meta, dict) else None
    if values is None:
        return settle(value, budget)
    box = [value]
    try:
        if isinstance(values, list):
            _apply_tree(box, [0], values)
        elif isinstance(values, dict):
            for key, tree in values.items():
                _apply_tree(box, [0, *_parse_path(str(key))], tree)
        else:
            raise CodecError("superjson meta.values is neither a list nor an object")
        return settle(box[0], budget)
    except RecursionError:
        raise CodecError("superjson payload nested too deeply") from None


def _parse_path(key: str) -> list[str]:
    """A superjson dotted path; `\\.` is a literal dot, `\\\\` a literal backslash."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(key):
        char = key[i]
        if char == "\\" and i + 1 < len(key) and key[i + 1] in ".\\":
            current.append(key[i + 1])
            i += 2
            continue
        if char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def _apply_tree(box: list[Any], path: list[Any], tree: Any) -> None:
    """Apply one annotation tree: children first (still plain JSON), then the node."""
    if not isinstance(tree, list) or not tree:
        raise CodecError(f"malformed superjson annotation {tree!r}")
    if len(tree) == 2 and isinstance(tree[1], dict):
        for key, child in tree[1].items():
            _apply_tree(box, [*path, *_parse_path(key)], child)
    annotation = tree[0]
    parent, last = _locate(box, path)
    parent[last] = _untransform(parent[last], annotation)


def _locate(box: list[Any], path: list[Any]) -> tuple[Any, Any]:
    """The container holding the value at `path`, and the key or index inside it."""
    node: Any = box
    for step in path[:-1]:
        node = _child(node, step)
    last = path[-1]
    if isinstance(node, list):
        last = _index(last, len(node))
    elif not isinstance(node, dict) or last not in node:
        raise CodecError(f"superjson annotation path does not exist: {path[1:]!r}")
    return node, last


def _child(node: Any, step: Any) -> Any:
    if isinstance(node, list):
        return node[_index(step, len(node))]
    if isinstance(node, dict) and step in node:
        return node[step]
    raise CodecError(f"superjson annotation path does not exist at {step!r}")


def _index(step: Any, length: int) -> int:
    try:
        index = int(step)
    except (TypeError, ValueError):
        raise CodecError(f"superjson path step {step!r} is not an array index") from None
    if not 0 <= index < length:
        raise CodecError(f"superjson path index {index} out of range")
    return index


_SPECIAL_NUMBERS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0": -0.0}


def _untransform(value: Any, annotation: Any) -> Any:
    if isinstance(annotation, list):  # composite: ["class", name], ["custom", name], ...
        kind = annotation[0] if annotation else None
        if kind == "typed-array":
            return list(value) if isinstance(value, list) else value
        if kind == "symbol":
            return None
        return value  # class instances and custom values keep their JSON form
    if annotation == "undefined":
        return UNDEFINED
    if annotation == "Date":
        return from_js_date(value)
    if annotation == "bigint":
        return _to_int(value)
    if annotation == "number":
        return _SPECIAL_NUMBERS.get(value, value)
    if annotation == "set":
        return list(value) if isinstance(value, list) else value
    if annotation == "map":
        return _pairs_to_mapping(value if isinstance(value, list) else [])
    if annotation == "Error":
        return value
    if annotation in ("regexp", "URL"):
        return value
    raise CodecError(f"unknown superjson annotation {annotation!r}")


def _to_int(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _pairs_to_mapping(pairs: list[Any]) -> Any:
    clean = [
        (pair[0], pair[1]) for pair in pairs if isinstance(pair, list | tuple) and len(pair) == 2
    ]
    try:
        return dict(clean)
    except TypeError:  # a key that Python cannot hash (an object used as a Map key)
        return [list(pair) for pair in clean]


def settle(value: Any, budget: Budget | None = None) -> Any:
    """The plain copy of a decoded value, within `budget`.

    Object members that are `undefined` disappear; in arrays they read as None.
    A value shared by several references is copied at each, as JSON would hold it.
    """
    try:
        return _settle(value, budget or Budget(), 1)
    except RecursionError:  # a cycle (devalue can express one) or absurd nesting
        raise CodecLimit("cyclic, or nested too deeply to decode", "json_depth") from None


_CONTAINERS = (dict, list)  # a tuple: isinstance checks one faster than a `dict | list` union


def _settle(value: Any, budget: Budget, depth: int) -> Any:
    if isinstance(value, dict):
        budget.take(len(value) + 1, depth)
        return {
            k: _settle(v, budget, depth + 1) if isinstance(v, _CONTAINERS) else v
            for k, v in value.items()
            if v is not UNDEFINED
        }
    if isinstance(value, list):
        budget.take(len(value) + 1, depth)
        return [
            _settle(v, budget, depth + 1)
            if isinstance(v, _CONTAINERS)
            else (None if v is UNDEFINED else v)
            for v in value
        ]
    return None if value is UNDEFINED else value


def encode_superjson(value: Any) -> dict[str, Any]:
    """The superjson envelope for `value` (datetimes as Dates, UNDEFINED as undefined).

    Like superjson itself, `meta` is left out when nothing needs annotating,
    which is how the client's inputs go out (`{"json": {...}}`).
    """
    annotations: dict[str, list[str]] = {}
    root: list[list[str]] = []

    def walk(node: Any, path: list[str]) -> Any:
        special = _superjson_leaf(node)
        if special is not None:
            tag, plain = special
            if path:
                annotations[".".join(_escape_key(p) for p in path)] = [tag]
            else:
                root.append([tag])
            return plain
        if isinstance(node, dict):
            return {k: walk(v, [*path, str(k)]) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(v, [*path, str(i)]) for i, v in enumerate(node)]
        return node

    encoded = walk(value, [])
    if root:
        return {"json": encoded, "meta": {"values": root[0], "v": 1}}
    if annotations:
        return {"json": encoded, "meta": {"values": annotations, "v": 1}}
    return {"json": encoded}


def _superjson_leaf(node: Any) -> tuple[str, Any] | None:
    if node is UNDEFINED:
        return "undefined", None
    if isinstance(node, datetime):
        return "Date", to_js_date(node)
    if isinstance(node, float) and (math.isnan(node) or math.isinf(node)):
        return "number", "NaN" if math.isnan(node) else ("Infinity" if node > 0 else "-Infinity")
    if isinstance(node, int) and not isinstance(node, bool) and abs(node) > 2**53:
        return "bigint", str(node)
    return None


def _escape_key(key: str) -> str:
    return key.replace("\\", "\\\\").replace(".", "\\.")


# ---------------------------------------------------------------- devalue

_DV_UNDEFINED, _DV_HOLE, _DV_NAN, _DV_POS_INF, _DV_NEG_INF, _DV_NEG_ZERO, _DV_SPARSE = (
    -1,
    -2,
    -3,
    -4,
    -5,
    -6,
    -7,
)
_DV_CONSTANTS: dict[int, Any] = {
    _DV_UNDEFINED: UNDEFINED,
    _DV_NAN: math.nan,
    _DV_POS_INF: math.inf,
    _DV_NEG_INF: -math.inf,
    _DV_NEG_ZERO: -0.0,
}
_TYPED_ARRAYS = {
    "Int8Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "Int16Array",
    "Uint16Array",
    "Int32Array",
    "Uint32Array",
    "Float32Array",
    "Float64Array",
    "BigInt64Array",
    "BigUint64Array",
    "ArrayBuffer",
}


def decode_devalue(text: str | Any, budget: Budget | None = None) -> Any:
    """The value a devalue string (`devalue.stringify` output) stands for."""
    budget = budget or Budget()
    try:
        parsed = json.loads(text) if isinstance(text, str) else text
    except ValueError as exc:
        raise CodecError(f"devalue payload is not JSON: {exc}") from None
    except RecursionError:
        raise CodecLimit("nested too deeply to read", "json_depth") from None
    if isinstance(parsed, int) and not isinstance(parsed, bool):
        if parsed in _DV_CONSTANTS:
            return settle(_DV_CONSTANTS[parsed], budget)
        raise CodecError(f"invalid devalue constant {parsed}")
    if not isinstance(parsed, list) or not parsed:
        raise CodecError("a devalue payload is a non-empty JSON array")
    reader = _DevalueReader(parsed, budget)
    try:
        value = reader.hydrate(0)
    except RecursionError:  # a chain of references too long to follow
        raise CodecLimit("devalue references nested too deeply", "json_depth") from None
    except CodecError:
        raise
    except (IndexError, KeyError, TypeError, ValueError) as exc:  # a malformed typed entry
        raise CodecError(f"malformed devalue entry ({type(exc).__name__})") from None
    if not reader.needs_copy:
        return value  # a plain tree already, counted as its copy would be
    budget.used = 0  # the pool was only the plan; the copy is what is counted
    return settle(value, budget)


class _DevalueReader:
    """devalue's `unflatten`: every object member and array entry is an index into the pool.

    Entries referenced twice are built once and shared here; `settle` then
    copies them, within the budget. Most answers share nothing and hold no
    `undefined` or rarer types (Set, Map, ...): then what is built is already
    the plain copy, and `needs_copy` stays False. Each container is counted
    as `settle` would count it, so the budget holds either way.
    """

    def __init__(self, pool: list[Any], budget: Budget) -> None:
        self.pool = pool
        self.done: dict[int, Any] = {}
        self.budget = budget
        self.depth = 0
        self.needs_copy = False

    def hydrate(self, index: Any) -> Any:
        if isinstance(index, bool) or not isinstance(index, int):
            raise CodecError(f"devalue reference {index!r} is not an index")
        if index < 0:
            if index in _DV_CONSTANTS:
                if index == _DV_UNDEFINED:
                    self.needs_copy = True  # where `_object` and `_array` did not drop it
                return _DV_CONSTANTS[index]
            raise CodecError(f"invalid devalue constant {index}")
        if index in self.done:
            value = self.done[index]
            if isinstance(value, _CONTAINERS):
                self.needs_copy = True  # shared: each reference gets its own copy
            return value
        if index >= len(self.pool):
            raise CodecError(f"devalue reference {index} outside the pool")
        entry = self.pool[index]
        if not isinstance(entry, _CONTAINERS):
            self.done[index] = entry
            return entry
        self.depth += 1
        try:
            if isinstance(entry, dict):
                self.budget.take(len(entry) + 1, self.depth)
                return self._object(index, entry)
            if entry and isinstance(entry[0], str):
                return self._typed(index, entry)
            self.budget.take(len(entry) + 1, self.depth)
            return self._array(index, entry)
        finally:
            self.depth -= 1

    def _object(self, index: int, entry: dict[str, Any]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        self.done[index] = obj  # before the members: cycles point back here
        pool, size = self.pool, len(self.pool)
        for key, ref in entry.items():
            # A member that is a string or a number, read in place: most are.
            if type(ref) is int:
                if 0 <= ref < size:
                    value = pool[ref]
                    if not isinstance(value, _CONTAINERS):
                        obj[key] = value
                        continue
                elif ref == _DV_UNDEFINED:
                    continue  # as in JSON: the member is not there
            obj[key] = self.hydrate(ref)
        self.budget.used -= len(entry) - len(obj)  # counted as its copy: without those
        return obj

    def _array(self, index: int, entry: list[Any]) -> list[Any]:
        if entry and entry[0] == _DV_SPARSE:  # [SPARSE, length, i, ref, i, ref, ...]
            self.needs_copy = True  # counted by its length, not by the entry
            length = int(entry[1]) if len(entry) > 1 else 0
            self.budget.take(max(0, length), self.depth)  # before the list is made
            sparse: list[Any] = [None] * length
            self.done[index] = sparse
            for i in range(2, len(entry) - 1, 2):
                sparse[int(entry[i])] = self.hydrate(entry[i + 1])
            return sparse
        array: list[Any] = []
        self.done[index] = array
        pool, size = self.pool, len(self.pool)
        for ref in entry:
            if type(ref) is int:  # a string or number read in place, as in `_object`
                if 0 <= ref < size:
                    value = pool[ref]
                    if not isinstance(value, _CONTAINERS):
                        array.append(value)
                        continue
                elif ref in (_DV_HOLE, _DV_UNDEFINED):
                    array.append(None)  # as in JSON
                    continue
            array.append(self.hydrate(ref))
        return array

    def _typed(self, index: int, entry: list[Any]) -> Any:
        kind, args = entry[0], entry[1:]
        if kind != "Date":  # a Date is a value, as in its copy; a Set, Map... its copy counts
            self.needs_copy = True
            self.budget.take(len(entry), self.depth)
        maker = _DEVALUE_TYPES.get(kind)
        if maker is not None:
            value = maker(self, index, args)
        elif kind in _TYPED_ARRAYS:
            value = _base64_bytes(args[0] if args else "")
        elif kind.startswith("Temporal.") or kind in ("URL", "URLSearchParams"):
            value = args[0] if args else None
        elif len(args) == 1 and isinstance(args[0], int) and not isinstance(args[0], bool):
            value = self.hydrate(args[0])  # a custom reducer: [name, ref]
        else:
            raise CodecError(f"unknown devalue type {kind!r}")
        self.done.setdefault(index, value)
        return self.done[index]

    def _set(self, index: int, args: list[Any]) -> list[Any]:
        items: list[Any] = []
        self.done[index] = items
        items.extend(self.hydrate(ref) for ref in args)
        return items

    def _map(self, index: int, args: list[Any]) -> Any:
        pairs = [
            [self.hydrate(args[i]), self.hydrate(args[i + 1])] for i in range(0, len(args) - 1, 2)
        ]
        return _pairs_to_mapping(pairs)

    def _null_object(self, index: int, args: list[Any]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        self.done[index] = obj
        for i in range(0, len(args) - 1, 2):
            obj[str(args[i])] = self.hydrate(args[i + 1])
        return obj


def _base64_bytes(text: Any) -> bytes | None:
    try:
        return base64.b64decode(str(text))
    except ValueError:
        return None


_DEVALUE_TYPES: dict[str, Callable[[_DevalueReader, int, list[Any]], Any]] = {
    "Date": lambda _r, _i, a: from_js_date(a[0] if a else None),
    "Set": _DevalueReader._set,
    "Map": _DevalueReader._map,
    "null": _DevalueReader._null_object,
    "RegExp": lambda _r, _i, a: a[0] if a else "",
    "Object": lambda _r, _i, a: a[0] if a else None,
    "BigInt": lambda _r, _i, a: _to_int(a[0]) if a else None,
}


def encode_devalue(value: Any) -> str:
    """`devalue.stringify` for JSON-like Python values plus datetimes and UNDEFINED.

    Equal objects are not shared (Python has no object identity to keep on
    the wire); strings and numbers are written once per occurrence, as
    devalue does for primitives.
    """
    pool: list[str] = []

    def dumps(item: Any) -> str:
        return json.dumps(item, separators=(",", ":"), ensure_ascii=False)

    def flatten(node: Any) -> int:
        if node is UNDEFINED:
            return _DV_UNDEFINED
        if isinstance(node, float):
            if math.isnan(node):
                return _DV_NAN
            if math.isinf(node):
                return _DV_POS_INF if node > 0 else _DV_NEG_INF
            if node == 0 and math.copysign(1.0, node) < 0:
                return _DV_NEG_ZERO
        index = len(pool)
        pool.append("")
        pool[index] = render(node)
        return index

    def render(node: Any) -> str:
        if isinstance(node, datetime):
            return dumps(["Date", to_js_date(node)])
        if isinstance(node, dict):
            members = ",".join(f"{dumps(str(k))}:{flatten(v)}" for k, v in node.items())
            return "{" + members + "}"
        if isinstance(node, list | tuple):
            return "[" + ",".join(str(flatten(v)) for v in node) + "]"
        if isinstance(node, int) and not isinstance(node, bool) and abs(node) > 2**53:
            return dumps(["BigInt", str(node)])
        return dumps(node)

    root = flatten(value)
    if root < 0:
        return str(root)
    return "[" + ",".join(pool) + "]"
