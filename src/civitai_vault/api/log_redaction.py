"""Keeping credentials out of HTTP debug logs.

httpcore logs every response's headers at DEBUG, Set-Cookie values included,
so anyone who turns debug logging on (a library user, a bug report with a log
attached) would hand out a live session token. A filter on httpcore's loggers
replaces the values of credential-bearing headers before any handler sees them.
The filter only runs for records that are made, i.e. when DEBUG is on.
"""

from __future__ import annotations

import logging
import re

__all__ = ["HeaderRedaction", "install_header_redaction"]

SENSITIVE_HEADERS = ("authorization", "proxy-authorization", "cookie", "set-cookie")
HTTPCORE_LOGGERS = ("httpcore.http11", "httpcore.http2", "httpcore.connection", "httpcore.proxy")
REDACTED = "[redacted]"

# httpcore writes headers as the repr of (name, value) byte pairs: (b'set-cookie', b'...').
_NAMES = "|".join(SENSITIVE_HEADERS)
_HEADER_PAIR = re.compile(
    rf"""(b(['"])(?:{_NAMES})\2,\s*)b(['"])(?:\\.|(?!\3).)*\3""", re.IGNORECASE
)


class HeaderRedaction(logging.Filter):
    """Rewrites a record whose message shows a credential header, keeping everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a broken record is not ours to fix
        redacted = _HEADER_PAIR.sub(rf"\1b'{REDACTED}'", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def install_header_redaction() -> None:
    """Attach the filter to httpcore's loggers (once, however often this is called)."""
    for name in HTTPCORE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, HeaderRedaction) for f in logger.filters):
            logger.addFilter(HeaderRedaction())
