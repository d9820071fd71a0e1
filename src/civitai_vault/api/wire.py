"""tRPC over HTTP without the HTTP: the input a call sends and what a response body means.

Inputs go out as superjson, `{"json": {...}}`, with no `meta` (nothing in our
inputs needs annotating, and an absent `cursor` is simply left out, which the
server reads as undefined; civitai/civitai @ ebed6616,
src/shared/utils/trpc-union-transformer.ts). Responses are read in
either encoding (superjson or devalue) and errors become the exception that
says what to do (`errors.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from civitai_vault.api.codec import (
    Budget,
    CodecError,
    CodecLimit,
    decode_devalue,
    decode_superjson,
    encode_superjson,
    settle,
)
from civitai_vault.api.errors import (
    AccessDenied,
    BadRequest,
    CivitaiError,
    LimitExceeded,
    LoginRequired,
    MalformedResponse,
    NotFound,
    OriginRejected,
    RateLimited,
    ServerError,
)
from civitai_vault.api.limits import DEFAULT_LIMITS, FLAGS, Limits

# The web client switches a query to POST above this many characters of input.
LONG_INPUT = 2500
ORIGIN_REJECTED_PREFIX = "Please use the public API instead"


def encode_input(payload: dict[str, Any]) -> str:
    """The `input` parameter (GET) or body (POST) for one unbatched call."""
    return json.dumps(encode_superjson(payload), separators=(",", ":"), ensure_ascii=False)


def encode_batch_input(payloads: list[dict[str, Any]]) -> str:
    """The body of a `?batch=1` POST: an object keyed by call index, as tRPC v11 reads it."""
    calls = {str(index): encode_superjson(payload) for index, payload in enumerate(payloads)}
    return json.dumps(calls, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class RawResponse:
    """What the transport hands over: enough to decide between a value and an error."""

    procedure: str
    status: int
    content_type: str
    body: bytes
    retry_after: float | None = None


def decode_response(response: RawResponse, limits: Limits = DEFAULT_LIMITS) -> Any:
    """The procedure's output, or raise the CivitaiError the response stands for.

    Decoding stays within `limits` (nesting depth, decoded values); going past
    one raises LimitExceeded, which is not retried.
    """
    budget = Budget(limits.json_depth, limits.answer_values)
    try:
        document = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        raise _error_without_json(response) from None
    except RecursionError:  # json's C parser meets Python's recursion limit first
        too_deep = CodecLimit("nested too deeply to read", "json_depth")
        raise _over_limit(response, too_deep, limits) from None
    try:
        if isinstance(document, dict) and "error" in document:
            raise _error_from_shape(response, _decode_error(document["error"], budget))
        if 200 <= response.status < 300 and isinstance(document, dict) and "result" in document:
            result = document["result"]
            if not isinstance(result, dict) or "data" not in result:
                raise _malformed(response, "the result has no data")
            return _decode_data(response, result["data"], budget)
    except CodecLimit as exc:
        raise _over_limit(response, exc, limits) from None
    if response.status >= 300:
        raise _error_from_status(response, None)
    raise _malformed(response, "neither a result nor an error")


def decode_batch_response(
    response: RawResponse, procedures: list[str], limits: Limits = DEFAULT_LIMITS
) -> list[Any | CivitaiError]:
    """Each call's output, or the CivitaiError it failed with, in call order.

    tRPC v11 answers a batch with a JSON array in call order, status 207 when the
    calls' statuses differ (http/getHTTPStatusCode.ts). Raises when the batch as a
    whole failed: a body that is not such an array (a proxy's page, a cut-off
    answer), or an overload status (429, 503) that concerns every call alike. The
    limits hold for the whole answer, as for one call's.
    """
    budget = Budget(limits.json_depth, limits.answer_values)
    try:
        document = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        raise _error_without_json(response) from None
    except RecursionError:
        too_deep = CodecLimit("nested too deeply to read", "json_depth")
        raise _over_limit(response, too_deep, limits) from None
    try:
        if isinstance(document, dict) and "error" in document:
            raise _error_from_shape(response, _decode_error(document["error"], budget))
        if not isinstance(document, list):
            if response.status >= 300:
                raise _error_from_status(response, None)
            raise _malformed(response, "a batch answer is not an array")
        if len(document) != len(procedures):
            raise _malformed(response, f"{len(document)} answers to {len(procedures)} calls")
        results = [
            _batch_item(response, item, procedure, budget)
            for item, procedure in zip(document, procedures, strict=True)
        ]
    except CodecLimit as exc:
        raise _over_limit(response, exc, limits) from None
    overloaded = response.status in (429, 503)
    if overloaded and all(isinstance(result, CivitaiError) for result in results):
        first = results[0]
        assert isinstance(first, CivitaiError)
        raise first
    return results


def _batch_item(response: RawResponse, item: Any, procedure: str, budget: Budget) -> Any:
    own = RawResponse(
        procedure=procedure,
        status=200,
        content_type=response.content_type,
        body=b"",
        retry_after=response.retry_after,
    )
    if isinstance(item, dict) and "error" in item:
        shape = _decode_error(item["error"], budget)
        found = shape.get("data")
        data: dict[str, Any] = found if isinstance(found, dict) else {}
        status = data.get("httpStatus")
        if not isinstance(status, int) or status < 300:
            whole = response.status
            status = whole if whole >= 300 and whole != 207 else 500
        message = shape.get("message")
        text = str(message) if message is not None else str(data.get("code") or "")
        return _error_from_status(own, text or None, status=status)
    result = item.get("result") if isinstance(item, dict) else None
    if isinstance(result, dict) and "data" in result:
        try:
            return _decode_data(own, result["data"], budget)
        except CivitaiError as exc:
            return exc
    return _malformed(own, "neither a result nor an error")


def _decode_data(response: RawResponse, data: Any, budget: Budget) -> Any:
    try:
        if isinstance(data, str):  # a devalue pod (TRPC_WRITE_DEVALUE)
            return decode_devalue(data, budget)
        if isinstance(data, dict) and "json" in data:
            return decode_superjson(data, budget)
    except CodecLimit:
        raise
    except CodecError as exc:
        raise _malformed(response, str(exc)) from None
    return settle(data, budget)  # a server without a transformer: plain JSON


def _decode_error(error: Any, budget: Budget) -> dict[str, Any]:
    """The error shape `{message, code, data{code, httpStatus, path}}` in any encoding."""
    if isinstance(error, str):
        try:
            error = decode_devalue(error, budget)
        except CodecLimit:
            raise
        except CodecError:
            return {"message": error}  # a REST-style {"error": "text"} from a proxy or guard
    elif isinstance(error, dict) and "json" in error:
        try:
            error = decode_superjson(error, budget)
        except CodecLimit:
            raise
        except CodecError:
            error = error.get("json")
    return error if isinstance(error, dict) else {"message": str(error)}


def _over_limit(response: RawResponse, exc: CodecLimit, limits: Limits) -> LimitExceeded:
    return LimitExceeded(
        "Civitai's answer went past a limit",
        setting=f"{FLAGS[exc.limit]} (now {getattr(limits, exc.limit):,})",
        limit=exc.limit,
        procedure=response.procedure,
        status=response.status,
        server_message=str(exc),
    )


def _error_from_shape(response: RawResponse, shape: dict[str, Any]) -> CivitaiError:
    data = shape["data"] if isinstance(shape.get("data"), dict) else {}
    status = data.get("httpStatus") if isinstance(data.get("httpStatus"), int) else None
    if status is None or response.status >= 300:
        status = response.status
    message = shape.get("message")
    message = str(message) if message is not None else str(data.get("code") or "")
    return _error_from_status(response, message or None, status=status)


_WHAT = {
    LoginRequired: "Civitai says you are not signed in",
    OriginRejected: "Civitai refused the call because it did not come from a Civitai site",
    AccessDenied: "Civitai denied access",
    NotFound: "not found on Civitai",
    RateLimited: "Civitai asked us to slow down",
    ServerError: "Civitai had a server error",
    BadRequest: "Civitai rejected the request as invalid",
}


def _error_from_status(
    response: RawResponse, message: str | None, *, status: int | None = None
) -> CivitaiError:
    status = status or response.status
    kind = _kind_for(status, message)
    return kind(
        _WHAT[kind],
        procedure=response.procedure,
        status=status,
        server_message=message,
        retry_after=response.retry_after,
    )


def _kind_for(status: int, message: str | None) -> type[CivitaiError]:
    if status == 401:
        if message and message.startswith(ORIGIN_REJECTED_PREFIX):
            return OriginRejected
        return LoginRequired
    if status in (403, 451):
        return AccessDenied
    if status in (404, 410):
        return NotFound
    if status == 429:
        return RateLimited
    if status >= 500 or status in (408, 499):
        return ServerError
    return BadRequest


def _error_without_json(response: RawResponse) -> CivitaiError:
    """A body that is not JSON: a proxy's HTML page, or a reply cut short."""
    if response.status >= 300:
        error = _error_from_status(response, _html_hint(response))
        if isinstance(error, ServerError):
            error.what = "Civitai (or a proxy in front of it) failed"
        return error
    return _malformed(response, "the body is not JSON (cut short?)")


def _html_hint(response: RawResponse) -> str | None:
    if "html" in response.content_type.lower():
        return "an HTML error page instead of an API answer"
    return None


def _malformed(response: RawResponse, why: str) -> MalformedResponse:
    return MalformedResponse(
        "Civitai's answer could not be read",
        procedure=response.procedure,
        status=response.status,
        server_message=why,
    )


def http_date(text: str) -> datetime | None:
    """An HTTP date (`Retry-After`, a cookie's `expires`) as an aware datetime; a date
    without a zone is UTC; None when it cannot be read."""
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After in seconds: a number, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        when = http_date(value)
        if when is None:
            return None
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
