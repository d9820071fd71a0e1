"""Malformed answers to one tRPC procedure at a time, served over loopback.

`hostile_api(emu, procedure, kind)` is a `servers.HostileServer` answer: every
call is forwarded to the emulator, except that the answer to `procedure` (alone,
or inside a batch) is spoiled the way `kind` says. `KINDS` are what a broken
proxy, a half-deployed server or an attacker sends: a page of HTML, a body cut
short, a tRPC error inside an HTTP 200, nesting far past any limit, devalue
references past the end of the table, and the right envelope around the wrong
value (null, wrong types, missing fields, integers past 2^64, lone surrogates).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from civitai_emulator import devalue

from .servers import Answer, Reply, Request, procedure_of

HTML = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body></body></html>"
DEPTH = 100_000  # far past the client's JSON depth limit (100)
HUGE = 2**64 + 5


def _batch(names: list[str], entry: Callable[[], Any], batched: bool) -> bytes:
    document = [entry() for _ in names] if batched else entry()
    return json.dumps(document).encode()


def _error_in_200() -> Any:
    # What a gateway that rewraps errors sends: the tRPC error shape, HTTP status 200.
    return {
        "error": {
            "json": {
                "message": "Internal server error",
                "code": -32603,
                "data": {"code": "INTERNAL_SERVER_ERROR", "httpStatus": 500},
            }
        }
    }


def _bad_reference() -> Any:
    return {"result": {"data": '[{"items":1,"nextCursor":99},[7,8]]'}}


def _deep() -> bytes:
    return b'{"result":{"data":{"json":' + b"[" * DEPTH + b"]" * DEPTH + b"}}}"


def _walk(value: Any, leaf: Callable[[Any], Any]) -> Any:
    if isinstance(value, dict):
        return {key: _walk(item, leaf) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, leaf) for item in value]
    return leaf(value)


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return "yes"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return 42
    return value


def _half_the_keys(value: Any) -> Any:
    if isinstance(value, dict):
        kept = sorted(value)[::2]
        return {key: _half_the_keys(value[key]) for key in kept}
    if isinstance(value, list):
        return [_half_the_keys(item) for item in value]
    return value


# Spoil a decoded result (the value inside the envelope).
VALUE_KINDS: dict[str, Callable[[Any], Any]] = {
    "null": lambda value: None,
    "a string instead of the object": lambda value: "surprise",
    "wrong types everywhere": lambda value: _walk(value, _wrong_type),
    "every leaf null": lambda value: _walk(value, lambda leaf: None),
    "half the fields missing": _half_the_keys,
    "integers past 2^64": lambda value: _walk(
        value, lambda leaf: HUGE if isinstance(leaf, int) and not isinstance(leaf, bool) else leaf
    ),
    "lone surrogates": lambda value: _walk(
        value, lambda leaf: leaf + "\ud83d" if isinstance(leaf, str) else leaf
    ),
}
BODY_KINDS = ("html", "truncated", "error in 200", "nesting 100000 deep", "devalue past the end")
KINDS = (*BODY_KINDS, *VALUE_KINDS)


def hostile_api(emu: Any, procedure: str, kind: str) -> Answer:
    """Forward to `emu`'s API; spoil every answer to `procedure` as `kind` says."""
    return _proxy(emu, procedure, kind, VALUE_KINDS.get(kind))


def replacing_api(emu: Any, procedure: str, value: Any) -> Answer:
    """Forward to `emu`'s API; every answer to `procedure` holds `value` instead."""
    return _proxy(emu, procedure, "replaced", lambda _: value)


def _proxy(emu: Any, procedure: str, kind: str, spoil: Callable[[Any], Any] | None) -> Answer:
    client = httpx.Client(base_url=emu.base_url, timeout=30)

    def forward(request: Request) -> httpx.Response:
        headers = {k: v for k, v in request.headers.items() if k != "content-length"}
        return client.request(
            request.method, request.path, headers=headers, content=request.body or None
        )

    def answer(request: Request) -> Reply:
        names = procedure_of(request).split(",")
        if not request.path.startswith("/api/trpc/") or procedure not in names:
            upstream = forward(request)
            kept = {"content-type": upstream.headers.get("content-type", "application/json")}
            return Reply(upstream.status_code, upstream.content, kept)
        batched = "batch=1" in request.path
        json_type = {"content-type": "application/json"}
        if kind == "html":
            return Reply(200, HTML, {"content-type": "text/html; charset=utf-8"})
        if kind == "error in 200":
            return Reply(200, _batch(names, _error_in_200, batched), json_type)
        if kind == "devalue past the end":
            return Reply(200, _batch(names, _bad_reference, batched), json_type)
        if kind == "nesting 100000 deep":
            return Reply(200, _deep(), json_type)
        upstream = forward(request)
        if kind == "truncated":
            return Reply(upstream.status_code, upstream.content[: len(upstream.content) // 2])
        document = json.loads(upstream.content)
        results = document if isinstance(document, list) else [document]
        for name, result in zip(names, results, strict=False):
            if name == procedure and isinstance(result, dict) and "result" in result:
                _spoil(result, spoil or (lambda value: value))
        # ensure_ascii writes a lone surrogate as its \\ud83d escape, as JavaScript does.
        return Reply(upstream.status_code, json.dumps(document).encode(), json_type)

    return answer


def _spoil(result: dict[str, Any], spoil: Callable[[Any], Any]) -> None:
    data = result["result"]["data"]
    if isinstance(data, str):  # devalue, the emulator's default
        result["result"]["data"] = devalue.stringify(spoil(devalue.parse(data)))
    elif isinstance(data, dict) and "json" in data:  # superjson
        result["result"]["data"] = {"json": spoil(data["json"])}
    else:
        result["result"]["data"] = spoil(data)
