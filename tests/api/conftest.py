"""Fixtures for the client tests: one emulator for this folder, reset between tests.

The client and the emulator share no code: these tests check the client's
reading of the wire against an independent implementation of it. Tests may
change the emulator's settings (site mode, encodings, boundary skip, faults);
the `emu` fixture puts them back afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from civitai_vault.api import CivitaiClient, ClientSettings

T = TypeVar("T")
SEED = 11
IMAGES = 600


@pytest.fixture(scope="session")
def _api_emulator() -> Iterator[Any]:
    from civitai_emulator import EmulatorConfig, running_emulator

    with running_emulator(EmulatorConfig(seed=SEED, images=IMAGES, site_mode="red")) as emu:
        yield emu


@pytest.fixture
def emu(_api_emulator: Any) -> Iterator[Any]:
    from civitai_emulator import Faults

    yield _api_emulator
    _api_emulator.set_faults(Faults())
    _api_emulator.config.site_mode = "red"
    _api_emulator.config.boundary_skip = True
    _api_emulator.config.devalue_share = 0.0


@pytest.fixture(params=[0.0, 1.0], ids=["superjson", "devalue"])
def encoding_emu(request: pytest.FixtureRequest, emu: Any) -> Any:
    """The emulator answering every call in superjson, then every call in devalue."""
    emu.config.devalue_share = request.param
    return emu


class EmulatorHelpers:
    """What the client tests need around the emulator, handed out by the `helpers` fixture
    (test modules cannot import conftest under --import-mode=importlib)."""

    def __init__(self, emu: Any) -> None:
        self.emu = emu

    def settings(self, auth: str | None = "key", **overrides: Any) -> ClientSettings:
        """Client settings for the emulator: fast retries, no pacing, chosen credentials."""
        credentials: dict[str, Any] = {}
        if auth == "key":
            credentials["api_key"] = self.emu.api_key
        elif auth == "cookie":
            credentials["token"] = self.emu.session_token
        elif auth == "legacy":
            credentials["token"] = self.emu.legacy_token
        values: dict[str, Any] = {
            "site": "red",
            "base_url": self.emu.base_url,
            "image_base_url": self.emu.image_base_url,
            "rate": 0,
            "concurrency": 8,
            "cdn_rate": 0,
            "retry_base": 0.001,
            "retry_cap": 0.01,
            **credentials,
        }
        values.update(overrides)
        return ClientSettings(**values)

    def call(self, work: Callable[[CivitaiClient], Awaitable[T]], **settings: Any) -> T:
        """Run `work(client)` with a fresh client (settings as in `settings`)."""
        auth = settings.pop("auth", "key")

        async def main() -> T:
            async with CivitaiClient(self.settings(auth, **settings)) as client:
                return await work(client)

        return asyncio.run(main())

    def log(self, listener: str | None = None) -> list[Any]:
        entries = list(self.emu.request_log)
        if listener is not None:
            entries = [e for e in entries if entry_field(e, "listener") == listener]
        return entries


@pytest.fixture
def helpers(emu: Any) -> EmulatorHelpers:
    return EmulatorHelpers(emu)


def entry_field(entry: Any, name: str) -> Any:
    return entry.get(name) if isinstance(entry, dict) else getattr(entry, name, None)


def entry_header(entry: Any, name: str) -> str | None:
    headers = entry_field(entry, "headers") or {}
    items = headers.items() if hasattr(headers, "items") else headers
    for key, value in items:
        if key.lower() == name.lower():
            return value
    return None


@pytest.fixture
def entry_header_of() -> Callable[[Any, str], str | None]:
    return entry_header
