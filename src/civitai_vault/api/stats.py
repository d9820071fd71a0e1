"""Counters a client keeps, for run summaries and benchmarks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ClientStats"]


@dataclass
class ClientStats:
    """What one client did: API requests sent (each try counts), retries, downloads.

    `api_requests` counts HTTP requests (a batch is one), `api_calls` the
    procedure calls they carried; `by_procedure` and `retries_by_procedure`
    count calls per tRPC procedure;
    `slowdowns` is how often the server made the pace drop (429/503).
    """

    api_requests: int = 0
    api_calls: int = 0
    api_seconds: float = 0.0  # time API requests held a concurrency slot, summed
    retries: int = 0
    by_procedure: Counter[str] = field(default_factory=Counter)
    retries_by_procedure: Counter[str] = field(default_factory=Counter)
    empty_page_retries: int = 0
    cdn_requests: int = 0
    cdn_seconds: float = 0.0  # time downloads held a CDN slot, summed
    cdn_retries: int = 0
    downloads: int = 0
    bytes_downloaded: int = 0
    slowdowns: int = 0

    def note_request(self, procedures: str | list[str]) -> None:
        """One HTTP request carrying one call, or a batch of them."""
        calls = [procedures] if isinstance(procedures, str) else procedures
        self.api_requests += 1
        self.api_calls += len(calls)
        self.by_procedure.update(calls)

    def note_retry(self, procedure: str) -> None:
        self.retries += 1
        self.retries_by_procedure[procedure] += 1

    def note_cdn_request(self) -> None:
        self.cdn_requests += 1

    def note_cdn_retry(self) -> None:
        self.cdn_retries += 1

    def note_download(self, size: int) -> None:
        self.downloads += 1
        self.bytes_downloaded += size

    def get(self, name: str, default: Any = 0) -> Any:
        """Dict-style access, for code that treats stats as a mapping."""
        return getattr(self, name, default)

    def as_dict(self) -> dict[str, Any]:
        return {
            "api_requests": self.api_requests,
            "api_calls": self.api_calls,
            "api_seconds": round(self.api_seconds, 3),
            "retries": self.retries,
            "by_procedure": dict(self.by_procedure),
            "retries_by_procedure": dict(self.retries_by_procedure),
            "empty_page_retries": self.empty_page_retries,
            "cdn_requests": self.cdn_requests,
            "cdn_seconds": round(self.cdn_seconds, 3),
            "cdn_retries": self.cdn_retries,
            "downloads": self.downloads,
            "bytes_downloaded": self.bytes_downloaded,
            "slowdowns": self.slowdowns,
        }
