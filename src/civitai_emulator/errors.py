"""tRPC errors: the codes, their JSON-RPC numbers and HTTP statuses, and the error shape."""

from __future__ import annotations

from typing import Any

# key -> (JSON-RPC code, HTTP status), from @trpc/server rpc/codes.ts and getHTTPStatusCode.ts
ERROR_CODES: dict[str, tuple[int, int]] = {
    "PARSE_ERROR": (-32700, 400),
    "BAD_REQUEST": (-32600, 400),
    "UNAUTHORIZED": (-32001, 401),
    "FORBIDDEN": (-32003, 403),
    "NOT_FOUND": (-32004, 404),
    "METHOD_NOT_SUPPORTED": (-32005, 405),
    "TIMEOUT": (-32008, 408),
    "CONFLICT": (-32009, 409),
    "PRECONDITION_FAILED": (-32012, 412),
    "PAYLOAD_TOO_LARGE": (-32013, 413),
    "UNSUPPORTED_MEDIA_TYPE": (-32015, 415),
    "UNPROCESSABLE_CONTENT": (-32022, 422),
    "TOO_MANY_REQUESTS": (-32029, 429),
    "CLIENT_CLOSED_REQUEST": (-32099, 499),
    "INTERNAL_SERVER_ERROR": (-32603, 500),
    "NOT_IMPLEMENTED": (-32603, 501),
    "BAD_GATEWAY": (-32603, 502),
    "SERVICE_UNAVAILABLE": (-32603, 503),
    "GATEWAY_TIMEOUT": (-32603, 504),
}

# Messages the Civitai server uses (src/server/utils/errorHandling.ts and callers).
NOT_FOUND_ENTITY = "Could not find entity"
PUBLIC_API_ONLY = "Please use the public API instead: https://developer.civitai.com/"
SERVER_BUSY = "Server busy — please retry."
SCOPE_MISSING = "Your API key does not have the required scope for this action"
SEARCH_OVERLOADED = "Image search is temporarily overloaded — please retry."
STATEMENT_TIMEOUT = (
    "\nInvalid `prisma.$queryRaw()` invocation:\n\n\n"
    "Raw query failed. Code: `57014`. Message: `ERROR: canceling statement due to "
    "statement timeout`"
)

# The body of the persistent image.get outage of 2024-12-24 (gallery-dl gh#6716).
BROKEN_QUERY = (
    "\nInvalid `prisma.$queryRaw()` invocation:\n\n\n"
    'Raw query failed. Code: `42703`. Message: `column "undefined" does not exist`'
)


class TRPCError(Exception):
    """An error a procedure (or the transport) answers with."""

    def __init__(self, code: str, message: str | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown tRPC error code {code!r}")
        super().__init__(message or code)
        self.code = code
        # tRPC falls back to the code string when no message is given.
        self.message = message or code

    @property
    def http_status(self) -> int:
        return ERROR_CODES[self.code][1]

    def shape(self, path: str | None) -> dict[str, Any]:
        """getErrorShape(): message, JSON-RPC code, data {code, httpStatus, path}."""
        data: dict[str, Any] = {"code": self.code, "httpStatus": self.http_status}
        if path is not None:
            data["path"] = path
        return {"message": self.message, "code": ERROR_CODES[self.code][0], "data": data}
