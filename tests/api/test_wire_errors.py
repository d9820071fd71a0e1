"""Reading response bodies: results in both encodings, and every error shape as its exception.

These are byte-level checks of the decoder; the same mapping is exercised
end to end against the emulator in test_client_errors.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from civitai_vault.api import (
    AccessDenied,
    BadRequest,
    CivitaiError,
    LoginRequired,
    MalformedResponse,
    NotFound,
    OriginRejected,
    RateLimited,
    ServerError,
)
from civitai_vault.api.codec import encode_devalue
from civitai_vault.api.wire import RawResponse, decode_response, encode_input, parse_retry_after

CODES = {
    400: ("BAD_REQUEST", -32600),
    401: ("UNAUTHORIZED", -32001),
    403: ("FORBIDDEN", -32003),
    404: ("NOT_FOUND", -32004),
    429: ("TOO_MANY_REQUESTS", -32029),
    500: ("INTERNAL_SERVER_ERROR", -32603),
    503: ("SERVICE_UNAVAILABLE", -32603),
}


def shape(status: int, message: str, path: str = "image.get") -> dict[str, Any]:
    key, code = CODES[status]
    return {
        "message": message,
        "code": code,
        "data": {"code": key, "httpStatus": status, "path": path},
    }


def response(status: int, body: Any, content_type: str = "application/json") -> RawResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return RawResponse("image.get", status, content_type, raw)


def test_inputs_are_bare_superjson_without_cursor_meta() -> None:
    assert json.loads(encode_input({"id": 1, "authed": True})) == {
        "json": {"id": 1, "authed": True}
    }


def test_results_in_both_encodings() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
    value = {"id": 1, "createdAt": when, "tags": [{"name": "a"}]}
    superjson = {
        "result": {
            "data": {
                "json": {"id": 1, "createdAt": "2024-01-02T03:04:05.006Z", "tags": [{"name": "a"}]},
                "meta": {"values": {"createdAt": ["Date"]}, "v": 1},
            }
        }
    }
    devalue = {"result": {"data": encode_devalue(value)}}
    assert decode_response(response(200, superjson)) == value
    assert decode_response(response(200, devalue)) == value
    assert decode_response(response(200, {"result": {"data": {"json": None}}})) is None


@pytest.mark.parametrize("encoding", ["superjson", "devalue"])
@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (401, "UNAUTHORIZED", LoginRequired),
        (
            401,
            "Please use the public API instead: https://developer.civitai.com/",
            OriginRejected,
        ),
        (403, "Your API key does not have the required scope for this action", AccessDenied),
        (404, "No image with id 5", NotFound),
        (429, "Server busy — please retry.", RateLimited),
        (500, "\nInvalid `prisma.$queryRaw()` invocation:\n\n\nRaw query failed.", ServerError),
        (503, "Image search is temporarily overloaded — please retry.", ServerError),
        (400, '[\n  {\n    "expected": "number",\n    "code": "invalid_type"\n  }\n]', BadRequest),
    ],
)
def test_error_shapes_become_exceptions(
    encoding: str, status: int, message: str, kind: type[CivitaiError]
) -> None:
    error = shape(status, message)
    body = (
        {"error": {"json": error}} if encoding == "superjson" else {"error": encode_devalue(error)}
    )
    with pytest.raises(kind) as caught:
        decode_response(response(status, body))
    text = str(caught.value)
    assert "\n" not in text
    assert "image.get" in text and f"HTTP {status}" in text
    assert caught.value.status == status
    assert text.split("; ")[-1]  # ends with what to do


def test_html_gateway_page_is_a_server_error() -> None:
    html = b"<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>"
    with pytest.raises(ServerError) as caught:
        decode_response(response(502, html, "text/html; charset=UTF-8"))
    assert "HTML" in str(caught.value)
    assert caught.value.retryable


@pytest.mark.parametrize(
    "body",
    [b'{"result":{"data":{"json":{"id":1', b"", b"\xff\xfe", b'{"result":{}}', b"[1,2]"],
)
def test_unreadable_success_bodies_are_malformed(body: bytes) -> None:
    with pytest.raises(MalformedResponse) as caught:
        decode_response(response(200, body))
    assert caught.value.retryable


def test_rest_style_error_string_is_read_as_a_message() -> None:
    body = {
        "error": "Access to this service is not available in your region (legal restrictions).",
        "code": "REGION_BLOCKED",
    }
    with pytest.raises(AccessDenied) as caught:
        decode_response(response(451, body))
    assert "region" in str(caught.value)


def test_message_defaults_to_the_code_and_is_shortened() -> None:
    error = shape(500, "x" * 1000)
    with pytest.raises(ServerError) as caught:
        decode_response(response(500, {"error": {"json": error}}))
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("2", 2.0), (" 0.5 ", 0.5), ("-3", 0.0), ("soon", None), (None, None), ("nan", None)],
)
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
