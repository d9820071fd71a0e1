"""What a sync run tells the user at the end: per target, listed / new / updated / failed.

A run is "complete or loud": every target says whether its listing can be
trusted complete, and every failure carries its reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TargetSummary:
    key: str
    label: str
    listed: int = 0
    new: int = 0
    updated: int = 0
    failed: int = 0
    removed: int = 0  # a listing that could have shown them no longer does
    hidden: int = 0  # not listed because the site hides their rating (not removed)
    gone: int = 0
    downloaded: int = 0
    downloaded_bytes: int = 0
    complete: bool = False
    limited: bool = False  # stopped at --limit, as asked: incomplete, but not a failure
    skipped: bool = False  # nothing to archive here (a Model collection in `me`): a note
    foreign: int = 0  # items the server listed that do not belong to the target
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    failure_reasons: Counter[str] = field(default_factory=Counter)

    def fail(self, reason: str) -> None:
        self.failed += 1
        self.failure_reasons[reason] += 1

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and self.failed == 0
            and (self.complete or self.limited or self.skipped)
        )

    @property
    def problem(self) -> str | None:
        """What went wrong, in one line (None when nothing did)."""
        if self.error:
            return self.error
        if self.failed:
            reason, count = self.failure_reasons.most_common(1)[0]
            return f"{self.failed} images failed ({count}: {reason})"
        if self.foreign:
            return (
                f"the server sent {self.foreign} items that do not belong here; "
                "they were not archived and the listing is not complete"
            )
        if not self.ok:
            return "the listing ended early; run again to complete it"
        return None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failure_reasons"] = dict(self.failure_reasons)
        data["ok"] = self.ok
        return data


@dataclass
class RunSummary:
    targets: list[TargetSummary] = field(default_factory=list)
    api_requests: int = 0
    api_calls: int = 0  # procedure calls those requests carried (a batch holds many)
    api_seconds: float = 0.0
    cdn_requests: int = 0
    cdn_seconds: float = 0.0
    bytes_downloaded: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.targets)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "targets": [t.as_dict() for t in self.targets],
            "api_requests": self.api_requests,
            "api_calls": self.api_calls,
            "api_seconds": round(self.api_seconds, 3),
            "cdn_requests": self.cdn_requests,
            "cdn_seconds": round(self.cdn_seconds, 3),
            "bytes_downloaded": self.bytes_downloaded,
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
        }
