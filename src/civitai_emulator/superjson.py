"""superjson 2.x, as the Civitai server reads its input and writes its output.

`serialize(value)` gives `{"json": ..., "meta": {"values": ..., "referentialEqualities":
..., "v": 1}}`, leaving `meta` out when nothing needs annotating, exactly as superjson
2.2.6 does. Python values map to JavaScript ones like this:
`datetime` -> Date, `UNDEFINED` -> undefined, `set` -> Set, NaN/Infinity -> number
annotations; dicts and lists are plain objects and arrays. Annotation paths are
dotted, with `.` and `\\` in keys escaped by a backslash.

Referential equalities: superjson notes every non-primitive that occurs at more than
one path. Builders in this package reuse an object only where the real server does
(an image's `sortAt` is the same Date as its `publishedAt`), so the output matches.

`deserialize(payload)` reverses it for request inputs; keys whose value is undefined
are removed, which is what zod makes of them.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from civitai_emulator.jsvalues import UNDEFINED, iso_date, js_number, parse_iso_date

Annotation = list[Any] | dict[str, Any]


class SuperJSONError(ValueError):
    """The payload is not valid superjson."""


def escape_key(key: str) -> str:
    return key.replace("\\", "\\\\").replace(".", "\\.")


def stringify_path(path: list[str | int]) -> str:
    return ".".join(escape_key(str(segment)) for segment in path)


def parse_path(text: str, legacy: bool = False) -> list[str]:
    """Split a dotted annotation path; `legacy` = payloads without `meta.v` (only `\\.`)."""
    segments: list[str] = []
    segment = ""
    index = 0
    while index < len(text):
        char = text[index]
        following = text[index + 1] if index + 1 < len(text) else ""
        if char == "\\" and not legacy:
            if following == "\\":
                segment += "\\"
                index += 2
                continue
            if following != ".":
                raise SuperJSONError("invalid path")
        if char == "\\" and following == ".":
            segment += "."
            index += 2
            continue
        if char == ".":
            segments.append(segment)
            segment = ""
        else:
            segment += char
        index += 1
    segments.append(segment)
    return segments


class _Walker:
    """One serialize() call: the annotations and the identities of objects seen."""

    def __init__(self) -> None:
        self.identities: dict[int, list[list[str | int]]] = {}
        self.keep_alive: list[Any] = []
        self.seen: dict[int, tuple[Any, Annotation | None]] = {}

    def walk(self, value: Any, path: list[str | int]) -> tuple[Any, Annotation | None]:
        primitive = (
            value is None or value is UNDEFINED or isinstance(value, bool | int | float | str)
        )
        if not primitive:
            key = id(value)
            if key not in self.identities:
                self.identities[key] = []
                self.keep_alive.append(value)
            self.identities[key].append(path)
            if key in self.seen:
                return self.seen[key]
        result = self._transform(value, path)
        if not primitive:
            self.seen[id(value)] = result
        return result

    def _transform(self, value: Any, path: list[str | int]) -> tuple[Any, Annotation | None]:
        if value is UNDEFINED:
            return None, ["undefined"]
        if isinstance(value, float) and not isinstance(value, bool):
            return _number(value)
        if value is None or isinstance(value, bool | int | str):
            return value, None
        if isinstance(value, datetime):
            return iso_date(value), ["Date"]
        if isinstance(value, set | frozenset):
            items, inner = self._walk_items(list(value), path)
            return items, (["set", inner] if inner else ["set"])
        if isinstance(value, dict):
            return self._walk_object(value, path)
        if isinstance(value, list | tuple):
            items, inner = self._walk_items(list(value), path)
            return items, inner or None
        raise TypeError(f"superjson cannot serialize {type(value).__name__}")

    def _walk_items(self, items: list[Any], path: list[str | int]) -> tuple[list[Any], dict]:
        out: list[Any] = []
        inner: dict[str, Any] = {}
        for index, item in enumerate(items):
            kind = type(item)
            if kind is str or kind is int or kind is bool or item is None:
                out.append(item)  # the common case, kept off the recursive path
                continue
            value, annotation = self.walk(item, [*path, index])
            out.append(value)
            if annotation:
                _merge(inner, str(index), annotation)
        return out, inner

    def _walk_object(self, obj: dict, path: list[str | int]) -> tuple[dict, Annotation | None]:
        out: dict[str, Any] = {}
        inner: dict[str, Any] = {}
        for key, item in obj.items():
            kind = type(item)
            if kind is str or kind is int or kind is bool or item is None:
                out[key] = item
                continue
            value, annotation = self.walk(item, [*path, key])
            out[key] = value
            if annotation:
                _merge(inner, escape_key(str(key)), annotation)
        return out, inner or None

    def equalities(self) -> list[Any] | dict[str, list[str]] | None:
        result: dict[str, list[str]] = {}
        root: list[str] | None = None
        for paths in self.identities.values():
            if len(paths) <= 1:
                continue
            ordered = sorted(paths, key=len)
            representative, *identical = ordered
            if not representative:
                root = [stringify_path(p) for p in identical]
            else:
                result[stringify_path(representative)] = [stringify_path(p) for p in identical]
        if root is not None:
            return [root] if not result else [root, result]
        return result or None


def _number(value: float) -> tuple[Any, Annotation | None]:
    if math.isnan(value):
        return "NaN", ["number"]
    if math.isinf(value):
        return ("Infinity" if value > 0 else "-Infinity"), ["number"]
    if value == 0 and math.copysign(1.0, value) < 0:
        return "-0", ["number"]
    return js_number(value), None


def _merge(inner: dict[str, Any], key: str, annotation: Annotation | None) -> None:
    if isinstance(annotation, list):
        inner[key] = annotation
    elif isinstance(annotation, dict):
        for sub_key, tree in annotation.items():
            inner[f"{key}.{sub_key}"] = tree


def serialize(value: Any) -> dict[str, Any]:
    """`superjson.serialize(value)`."""
    walker = _Walker()
    json_value, annotations = walker.walk(value, [])
    result: dict[str, Any] = {"json": json_value}
    meta: dict[str, Any] = {}
    if annotations:
        meta["values"] = annotations
    equalities = walker.equalities()
    if equalities:
        meta["referentialEqualities"] = equalities
    if meta:
        meta["v"] = 1
        result["meta"] = meta
    return result


# ---------------------------------------------------------------- deserialize


def deserialize(payload: dict[str, Any]) -> Any:
    """`superjson.deserialize(payload)`; undefined object values are dropped."""
    value = payload.get("json")
    meta = payload.get("meta")
    if isinstance(meta, dict):
        legacy = "v" not in meta
        values = meta.get("values")
        if isinstance(values, list):
            value = _apply_tree(value, values, legacy)
        elif isinstance(values, dict):
            for path_text, tree in values.items():
                path = parse_path(path_text, legacy)
                value = _set_deep(value, path, lambda v, t=tree: _apply_tree(v, t, legacy))
    return _drop_undefined(value)


def _apply_tree(value: Any, tree: Any, legacy: bool) -> Any:
    if not isinstance(tree, list) or not tree:
        raise SuperJSONError("invalid annotation")
    kind = tree[0]
    if len(tree) > 1 and isinstance(tree[1], dict):
        for path_text, sub_tree in tree[1].items():
            path = parse_path(path_text, legacy)
            value = _set_deep(value, path, lambda v, t=sub_tree: _apply_tree(v, t, legacy))
    return _untransform(value, kind)


def _untransform(value: Any, kind: Any) -> Any:
    if kind == "undefined":
        return UNDEFINED
    if kind == "Date":
        try:
            return parse_iso_date(str(value))
        except ValueError as error:
            raise SuperJSONError(f"Invalid Date: {value!r}") from error
    if kind == "bigint":
        return int(str(value))
    if kind == "number":
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0": -0.0}.get(
            str(value), math.nan
        )
    if kind == "set":
        return list(value or [])
    if kind == "map":
        return {str(k): v for k, v in (value or [])}
    if kind in ("regexp", "symbol"):
        return str(value)
    if isinstance(kind, list) and kind and kind[0] in ("class", "custom"):
        return value
    raise SuperJSONError(f"Unknown transformation {kind!r}")


def _set_deep(value: Any, path: list[str], mapper: Any) -> Any:
    if not path:
        return mapper(value)
    parent = value
    for segment in path[:-1]:
        parent = _child(parent, segment)
    last = path[-1]
    if isinstance(parent, list):
        index = _index(last, parent)
        parent[index] = mapper(parent[index])
    elif isinstance(parent, dict):
        parent[last] = mapper(parent.get(last, UNDEFINED))
    else:
        raise SuperJSONError(f"Cannot set {last!r} on a non-object")
    return value


def _child(parent: Any, segment: str) -> Any:
    if isinstance(parent, list):
        return parent[_index(segment, parent)]
    if isinstance(parent, dict) and segment in parent:
        return parent[segment]
    raise SuperJSONError(f"Cannot read {segment!r} of the input")


def _index(segment: str, items: list) -> int:
    if not segment.isdigit() or int(segment) >= len(items):
        raise SuperJSONError(f"Invalid array index {segment!r}")
    return int(segment)


def _drop_undefined(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_undefined(v) for k, v in value.items() if v is not UNDEFINED}
    if isinstance(value, list):
        return [_drop_undefined(v) for v in value]
    return value
