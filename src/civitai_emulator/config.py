"""Settings of one emulator run: the dataset size, the site mode and the faults to inject.

Both dataclasses are plain and mutable on purpose: a test may change
`emu.config.site_mode` or call `emu.set_faults(Faults(...))` while the server runs, and
the next request sees the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Literal

SiteMode = Literal["green", "red"]
Encoding = Literal["devalue", "superjson", "mixed"]
ENCODINGS = ("devalue", "superjson", "mixed")
# The share of devalue answers each encoding means; "mixed" is a pool mid-rollout.
DEVALUE_SHARES = {"devalue": 1.0, "superjson": 0.0, "mixed": 0.5}


@dataclass
class Faults:
    """Failures to inject, all off by default. Shares are probabilities in 0..1.

    API faults (the tRPC listener): one draw per request picks at most one of
    `status_429`, `status_500`, `status_502`, `status_503`, `dropped`, `truncated`,
    `malformed` and, for `image.getInfinite` only, `empty_pages`; the shares must add
    up to at most 1. CDN faults work the same way with the `cdn_` fields.

    - `status_429`: 429 TOO_MANY_REQUESTS "Server busy — please retry." (no Retry-After),
      as Civitai's heavy-request bulkhead answers.
    - `status_500`: 500 INTERNAL_SERVER_ERROR with a Prisma statement-timeout message.
    - `status_502`: 502 with an HTML body, as a proxy in front of the app sends it.
    - `status_503`: 503 SERVICE_UNAVAILABLE (tRPC JSON body).
    - `dropped`: the connection is closed before any response byte.
    - `truncated`: the full Content-Length is promised, half the body is sent, then the
      connection is closed.
    - `malformed`: status 200 and a JSON content type, but the body is cut JSON.
    - `empty_pages`: `image.getInfinite` answers `{items: [], nextCursor: undefined}`, what
      the real server does when its 20 s statement timeout fires.

    `call_500` is drawn for each call, inside a batch or alone: the call answers 500
    with a Prisma error (as `image.get` did for many images for a day, gallery-dl
    gh#6716) while the other calls of its batch succeed, so the batch answers 207.

    `latency` + uniform random `0..jitter` seconds are added to every API response
    (`cdn_latency`/`cdn_jitter` to CDN responses) with asyncio.sleep, so the server
    keeps serving other requests meanwhile.

    Persistent failures (not drawn, not counted by `limit`): every call of a procedure
    in `persistent_500_procedures` (default `image.get`) for an image id in
    `persistent_500_images` answers 500 INTERNAL_SERVER_ERROR with the body of the real
    outage in gallery-dl gh#6716 ("Invalid `prisma.$queryRaw()` invocation: ... column
    \"undefined\" does not exist"), on every retry, batched or not.

    `retry_after` / `cdn_retry_after`: when set, the injected 429 and 503 answers of the
    API / the CDN carry `Retry-After: <seconds>` (as a proxy or Cloudflare in front of
    Civitai may send); None (the default) sends none, as Civitai's own bulkhead does.

    `procedures` limits API faults to those procedure names (None = every procedure).
    `limit` stops injecting after that many faults in total, so a test can say "two
    failures, then it works". Randomness comes from `seed`: the API and the CDN
    each have a stream of their own (`faults.FaultPlan`).
    """

    latency: float = 0.0
    jitter: float = 0.0
    status_429: float = 0.0
    status_500: float = 0.0
    status_502: float = 0.0
    status_503: float = 0.0
    dropped: float = 0.0
    truncated: float = 0.0
    malformed: float = 0.0
    empty_pages: float = 0.0
    cdn_latency: float = 0.0
    cdn_jitter: float = 0.0
    cdn_status_429: float = 0.0
    cdn_status_500: float = 0.0
    cdn_status_502: float = 0.0
    cdn_status_503: float = 0.0
    cdn_dropped: float = 0.0
    cdn_truncated: float = 0.0
    call_500: float = 0.0
    retry_after: float | None = None
    cdn_retry_after: float | None = None
    procedures: frozenset[str] | None = None
    limit: int | None = None
    seed: int = 0
    persistent_500_images: frozenset[int] = frozenset()
    persistent_500_procedures: frozenset[str] = frozenset({"image.get"})

    def __post_init__(self) -> None:
        self.persistent_500_images = frozenset(self.persistent_500_images)
        self.persistent_500_procedures = frozenset(self.persistent_500_procedures)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in NOT_SHARES:
                continue
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"Faults.{f.name} must be a number >= 0, got {value!r}")
            if not f.name.endswith(("latency", "jitter")) and value > 1:
                raise ValueError(f"Faults.{f.name} is a share and must be <= 1, got {value!r}")
        for name in ("retry_after", "cdn_retry_after"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or value < 0):
                raise ValueError(f"Faults.{name} must be None or seconds >= 0, got {value!r}")
        if self.procedures is not None:
            self.procedures = frozenset(self.procedures)
        if sum(share for _, share in self.api_shares(True)) > 1.0 + 1e-9:
            raise ValueError("the API fault shares add up to more than 1")
        if sum(share for _, share in self.cdn_shares()) > 1.0 + 1e-9:
            raise ValueError("the CDN fault shares add up to more than 1")

    @classmethod
    def from_assignments(cls, assignments: list[str]) -> Faults:
        """Faults from `NAME=VALUE` strings, as `civitai-emulator --fault` takes them.

        `status_500=0.05`, `latency=0.05` (seconds), `limit=10`, `procedures=image.get,post.get`,
        `persistent_500_images=12,34`. Raises ValueError naming what is wrong.
        """
        known = {f.name for f in fields(cls)}
        values: dict[str, object] = {}
        for assignment in assignments:
            name, sep, text = (part.strip() for part in assignment.partition("="))
            if not sep or name not in known:
                raise ValueError(
                    f"--fault takes NAME=VALUE with NAME one of {', '.join(sorted(known))}; "
                    f"got {assignment!r}"
                )
            values[name] = _fault_value(name, text)
        return cls(**values)  # type: ignore[arg-type]  # checked in __post_init__

    def api_shares(self, listing: bool) -> list[tuple[str, float]]:
        """(fault kind, share) pairs for one API request, in draw order."""
        shares = [
            ("status_429", self.status_429),
            ("status_500", self.status_500),
            ("status_502", self.status_502),
            ("status_503", self.status_503),
            ("dropped", self.dropped),
            ("truncated", self.truncated),
            ("malformed", self.malformed),
        ]
        if listing:
            shares.append(("empty_pages", self.empty_pages))
        return shares

    def cdn_shares(self) -> list[tuple[str, float]]:
        """(fault kind, share) pairs for one CDN request, in draw order."""
        return [
            ("status_429", self.cdn_status_429),
            ("status_500", self.cdn_status_500),
            ("status_502", self.cdn_status_502),
            ("status_503", self.cdn_status_503),
            ("dropped", self.cdn_dropped),
            ("truncated", self.cdn_truncated),
        ]


NOT_SHARES = (
    "procedures",
    "limit",
    "seed",
    "persistent_500_images",
    "persistent_500_procedures",
    "retry_after",
    "cdn_retry_after",
)


def _fault_value(name: str, text: str) -> object:
    """One `--fault` value: a set of names or ids, a whole number, or a number."""
    try:
        if name in ("procedures", "persistent_500_procedures"):
            return frozenset(part.strip() for part in text.split(",") if part.strip())
        if name == "persistent_500_images":
            return frozenset(int(part) for part in text.split(",") if part.strip())
        if name in ("limit", "seed"):
            return int(text)
        return float(text)
    except ValueError:
        raise ValueError(f"--fault {name}: {text!r} is not a valid value") from None


@dataclass
class EmulatorConfig:
    """What to serve.

    - `seed`, `images`: the deterministic dataset (see `civitai_emulator.dataset`).
    - `site_mode`: "green" (civitai.com: R and X hidden even when signed in) or "red"
      (civitai.red: a signed-in user sees what it asks for). A request whose Host header
      names civitai.red (or starts with "red.") is red whatever this says.
    - `boundary_skip`: reproduce the real server's descending-cursor off-by-one, which
      never returns the image whose id became `nextCursor` (civitai/civitai @ ebed6616,
      src/server/utils/pagination-helpers.ts getCursor: `<` for DESC). Off
      = the corrected behaviour (`id <= cursor`).
    - `encoding`: how answers are written. "devalue" (the default: the live site since
      2026-07-25, gallery-dl 1.32.8 "handle new API response format"), "superjson" (the
      older pods), or
      "mixed" (half and half, as during the rollout).
    - `devalue_share`: overrides `encoding` with an exact share of devalue answers,
      picked by a hash of the request so a retry gets the same encoding.
    - `faults`: see `Faults`.
    - `now`: the present for on-site generations (`orchestrator.queryGeneratedImages`
      lists those younger than 30 days, dated back from it); None = the time the
      emulator starts. Everything else is dated by the dataset's own calendar.
    - `host`, `port`, `cdn_port`: where to listen; 0 = a free port. The video origin
      and the generator's blob host get free ports of their own.
    """

    seed: int = 1
    images: int = 600
    site_mode: SiteMode = "green"
    boundary_skip: bool = True
    encoding: Encoding = "devalue"
    devalue_share: float | None = None
    faults: Faults = field(default_factory=Faults)
    now: datetime | None = None
    host: str = "127.0.0.1"
    port: int = 0
    cdn_port: int = 0

    def __post_init__(self) -> None:
        if self.site_mode not in ("green", "red"):
            raise ValueError(f"site_mode must be 'green' or 'red', got {self.site_mode!r}")
        if self.encoding not in ENCODINGS:
            known = ", ".join(ENCODINGS)
            raise ValueError(f"encoding must be one of {known}, got {self.encoding!r}")
        if self.devalue_share is None:
            self.devalue_share = DEVALUE_SHARES[self.encoding]
        if not 0.0 <= self.devalue_share <= 1.0:
            raise ValueError(f"devalue_share must be within 0..1, got {self.devalue_share!r}")
        if self.images < MIN_IMAGES:
            raise ValueError(f"images must be at least {MIN_IMAGES}, got {self.images}")


# Enough room for every well-known image in `Dataset.named` to be a different image.
MIN_IMAGES = 20
