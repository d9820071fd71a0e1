"""The tRPC v11 HTTP transport at `/api/trpc/<procedure>`, as Civitai runs it.

Order of checks, as in @trpc/server's resolveResponse and Civitai's middleware chain
(civitai/civitai @ ebed6616, src/server/trpc.ts): content type (POST needs application/json, else
415) →
batch shape → unknown procedure (404) → wrong method (405; queries also accept POST,
`allowMethodOverride`) → Origin/Referer rule (401) → API key scope (403) → session
for protected procedures (401) → heavy-request bulkhead (429) → input: JSON, then the
union deserializer (superjson object or devalue string), then the zod schema (400) →
resolver.

Responses: `{"result": {"data": ...}}` or `{"error": ...}`, the payload written by
superjson, or as a devalue string on a "devalue pod" (a share of requests chosen by
`devalue_share`, by a hash of the request so a retry sees the same pod). `?batch=1`
answers a JSON array in call order, with status 207 when the calls disagree.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from civitai_emulator import devalue, superjson
from civitai_emulator.auth import Session, scope_allows
from civitai_emulator.errors import (
    PUBLIC_API_ONLY,
    SCOPE_MISSING,
    SERVER_BUSY,
    STATEMENT_TIMEOUT,
    TRPCError,
)
from civitai_emulator.jsvalues import UNDEFINED
from civitai_emulator.procedures import PROCEDURES, CallContext, Procedure
from civitai_emulator.schemas import validate

log = logging.getLogger("civitai_emulator")

DEFAULT_CACHE_CONTROL = "max-age=0, private, no-cache"


@dataclass
class TrpcRequest:
    method: str
    path: str  # the part after /api/trpc/, still percent-encoded
    query: dict[str, str]
    query_string: str
    headers: dict[str, str]
    body: bytes


@dataclass
class TrpcResponse:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    procedures: list[str] = field(default_factory=list)


@dataclass
class CallEnvironment:
    """What the transport needs to know about the caller, resolved by the server."""

    session: Session
    origin_ok: bool
    make_context: Callable[[], CallContext]
    bulkhead_full: bool = False
    call_fault: Callable[[str], bool] = lambda _path: False


def procedure_paths(request: TrpcRequest) -> list[str]:
    path = unquote(request.path)
    return path.split(",") if request.query.get("batch") == "1" else [path]


def wants_devalue(request: TrpcRequest, share: float, seed: int) -> bool:
    if share <= 0:
        return False
    if share >= 1:
        return True
    fingerprint = f"{seed}|{request.method}|{request.path}|{request.query_string}|".encode()
    digest = hashlib.sha256(fingerprint + request.body).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def json_bytes(value: Any) -> bytes:
    """JSON.stringify(value): compact, non-ASCII kept, lone surrogates escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8", "backslashreplace")


def encode(value: Any, use_devalue: bool) -> Any:
    if use_devalue:
        try:
            return devalue.stringify(value)
        except devalue.DevalueError:
            log.warning("devalue could not write a response; falling back to superjson")
    return superjson.serialize(value)


def error_body(error: TRPCError, path: str | None, use_devalue: bool) -> dict[str, Any]:
    return {"error": encode(error.shape(path), use_devalue)}


class _Inputs:
    """The request's inputs, parsed once on first use (tRPC's memo): errors repeat."""

    def __init__(self, request: TrpcRequest, batch: bool) -> None:
        self.request = request
        self.batch = batch
        self._value: dict[int, Any] | None = None
        self._error: TRPCError | None = None

    def read(self, index: int) -> Any:
        if self._value is None and self._error is None:
            try:
                self._value = self._parse()
            except TRPCError as error:
                self._error = error
            except (ValueError, TypeError, KeyError, IndexError) as error:
                self._error = TRPCError("BAD_REQUEST", str(error) or "Invalid input")
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value.get(index, UNDEFINED)

    def _parse(self) -> dict[int, Any]:
        request = self.request
        if request.method == "GET":
            raw = request.query.get("input")
            if not raw:
                return {}
            inputs = js_json_parse(raw)
        else:
            inputs = js_json_parse(request.body.decode("utf-8", "replace"))
        if not self.batch:
            return {0: union_deserialize(inputs)}
        if not isinstance(inputs, dict):
            raise TRPCError("BAD_REQUEST", '"input" needs to be an object when doing a batch call')
        return {
            int(key): union_deserialize(value) for key, value in inputs.items() if key.isdigit()
        }


def union_deserialize(value: Any) -> Any:
    """Civitai's union transformer: devalue strings, superjson objects, anything else devalue."""
    if isinstance(value, str):
        return devalue.parse(value)
    if isinstance(value, dict) and "json" in value:
        return superjson.deserialize(value)
    return devalue.unflatten(value)


def js_json_parse(text: str) -> Any:
    """JSON.parse with V8's error messages."""

    def reject_constant(name: str) -> Any:
        raise ValueError(f"Unexpected token '{name[0]}', \"{_snippet(text)}\" is not valid JSON")

    try:
        return json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as error:
        if not text.strip() or error.pos >= len(text):
            raise ValueError("Unexpected end of JSON input") from error
        if error.msg == "Extra data":
            raise ValueError(
                f"Unexpected non-whitespace character after JSON at position {error.pos}"
            ) from error
        char = text[error.pos]
        raise ValueError(
            f"Unexpected token '{char}', \"{_snippet(text)}\" is not valid JSON"
        ) from error


def _snippet(text: str) -> str:
    return text if len(text) <= 30 else text[:10] + "..." + text[-10:]


class TrpcEndpoint:
    """Answers one HTTP request to /api/trpc/... with a complete response."""

    def __init__(self, seed: int, devalue_share: Callable[[], float]) -> None:
        self.seed = seed
        self.devalue_share = devalue_share

    def handle(
        self, request: TrpcRequest, environment: Callable[[], CallEnvironment]
    ) -> TrpcResponse:
        use_devalue = wants_devalue(request, self.devalue_share(), self.seed)
        if request.method == "HEAD":
            return TrpcResponse(204, b"")
        try:
            paths, batch = self._request_info(request)
        except TRPCError as error:
            return self._single(None, error, None, use_devalue, [])
        env = environment()
        inputs = _Inputs(request, batch)
        results = [
            self._call(request, index, path, env, inputs) for index, path in enumerate(paths)
        ]
        response = self._respond(results, paths, batch, use_devalue, env)
        response.procedures = paths
        return response

    def _request_info(self, request: TrpcRequest) -> tuple[list[str], bool]:
        content_type = request.headers.get("content-type")
        if not (content_type or "").startswith("application/json") and request.method != "GET":
            message = (
                f'Unsupported content-type "{content_type}'
                if content_type is not None
                else "Missing content-type header"
            )
            raise TRPCError("UNSUPPORTED_MEDIA_TYPE", message)
        batch = request.query.get("batch") == "1"
        paths = procedure_paths(request)
        kinds = {PROCEDURES[p].kind for p in paths if p in PROCEDURES}
        if len(kinds) > 1:
            ordered = [PROCEDURES[p].kind for p in paths if p in PROCEDURES]
            unique = list(dict.fromkeys(ordered))
            raise TRPCError(
                "BAD_REQUEST", f"Cannot mix procedure types in call: {', '.join(unique)}"
            )
        return paths, batch

    def _call(
        self, request: TrpcRequest, index: int, path: str, env: CallEnvironment, inputs: _Inputs
    ) -> tuple[Any, TRPCError | None]:
        try:
            procedure = PROCEDURES.get(path)
            if procedure is None:
                raise TRPCError("NOT_FOUND", f'No procedure found on path "{path}"')
            self._check_method(request.method, procedure, path)
            if env.session.rejected_key or (not env.session.via_api_key and not env.origin_ok):
                raise TRPCError("UNAUTHORIZED", PUBLIC_API_ONLY)
            if not scope_allows(env.session, procedure.scope):
                raise TRPCError("FORBIDDEN", SCOPE_MISSING)
            if procedure.protected and env.session.user is None:
                raise TRPCError("UNAUTHORIZED")
            if procedure.heavy and env.bulkhead_full:
                raise TRPCError("TOO_MANY_REQUESTS", SERVER_BUSY)
            params = validate(procedure.schema, inputs.read(index))
            if env.call_fault(path):
                raise TRPCError("INTERNAL_SERVER_ERROR", STATEMENT_TIMEOUT)
            return procedure.resolve(env.make_context(), params), None
        except TRPCError as error:
            return None, error
        except Exception as error:  # a resolver bug must still answer like tRPC does
            log.exception("procedure %s failed", path)
            return None, TRPCError("INTERNAL_SERVER_ERROR", str(error))

    @staticmethod
    def _check_method(method: str, procedure: Procedure, path: str) -> None:
        allowed = ("POST",) if procedure.kind == "mutation" else ("GET", "POST")
        if method not in allowed:
            raise TRPCError(
                "METHOD_NOT_SUPPORTED",
                f'Unsupported {method}-request to {procedure.kind} procedure at path "{path}"',
            )

    def _respond(
        self,
        results: list[tuple[Any, TRPCError | None]],
        paths: list[str],
        batch: bool,
        use_devalue: bool,
        env: CallEnvironment,
    ) -> TrpcResponse:
        if not batch:
            data, error = results[0]
            response = self._single(data, error, paths[0], use_devalue, env.session.set_cookies)
        else:
            items = []
            statuses = set()
            for (data, error), path in zip(results, paths, strict=True):
                if error is not None:
                    items.append(error_body(error, path, use_devalue))
                    statuses.add(error.http_status)
                else:
                    items.append({"result": {"data": encode(data, use_devalue)}})
                    statuses.add(200)
            status = statuses.pop() if len(statuses) == 1 else 207
            response = TrpcResponse(status, json_bytes(items), _headers(env.session.set_cookies))
        if not batch and response.status == 200:
            procedure = PROCEDURES.get(paths[0])
            public_ttl = self._public_ttl(procedure, env.session)
            if public_ttl:
                response.headers = [
                    (k, v) for k, v in response.headers if k not in ("cache-control", "set-cookie")
                ]
                public = f"public, max-age={public_ttl}, s-maxage={public_ttl}"
                response.headers.append(("cache-control", f"{public}, stale-while-revalidate=30"))
        return response

    @staticmethod
    def _public_ttl(procedure: Procedure | None, session: Session) -> int:
        if procedure is None or procedure.kind != "query":
            return 0
        if procedure.edge_cache_seconds:
            return procedure.edge_cache_seconds
        return 60 if session.user is None else 0

    @staticmethod
    def _single(
        data: Any, error: TRPCError | None, path: str | None, use_devalue: bool, cookies: list[str]
    ) -> TrpcResponse:
        if error is not None:
            body = error_body(error, path, use_devalue)
            return TrpcResponse(error.http_status, json_bytes(body), _headers(cookies))
        body = {"result": {"data": encode(data, use_devalue)}}
        return TrpcResponse(200, json_bytes(body), _headers(cookies))


def _headers(cookies: list[str]) -> list[tuple[str, str]]:
    headers = [
        ("content-type", "application/json"),
        ("vary", "trpc-accept, accept"),
        ("cache-control", DEFAULT_CACHE_CONTROL),
    ]
    headers.extend(("set-cookie", cookie) for cookie in cookies)
    return headers
