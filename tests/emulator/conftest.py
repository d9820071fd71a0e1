"""Fixtures for the emulator's own tests.

The tests speak to the emulator over loopback with httpx and decode its answers
with the small decoders below, written here from the format descriptions in
civitai-api.md, so the emulator's codecs are checked by a second implementation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from civitai_emulator import EmulatorConfig, running_emulator

SEED = 11
IMAGES = 400


# ---------------------------------------------------------------- decoding


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def split_path(path: str) -> list[str]:
    parts, current, index = [], "", 0
    while index < len(path):
        char = path[index]
        if char == "\\" and index + 1 < len(path):
            current += path[index + 1]
            index += 2
            continue
        if char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
        index += 1
    parts.append(current)
    return parts


_MISSING = object()


def decode_superjson(payload: dict[str, Any]) -> Any:
    """{json, meta}: Dates become datetimes, undefined object values disappear."""
    value = payload["json"]
    values = (payload.get("meta") or {}).get("values")
    if isinstance(values, list):
        return _apply(value, values[0])
    for path, annotation in (values or {}).items():
        segments = split_path(path)
        parent = value
        for segment in segments[:-1]:
            parent = parent[int(segment)] if isinstance(parent, list) else parent[segment]
        last = segments[-1]
        key: Any = int(last) if isinstance(parent, list) else last
        new = _apply(parent[key], annotation[0])
        if new is _MISSING and isinstance(parent, dict):
            del parent[key]
        else:
            parent[key] = None if new is _MISSING else new
    return value


def _apply(value: Any, kind: str) -> Any:
    if kind == "Date":
        return parse_iso(value)
    if kind == "undefined":
        return _MISSING
    raise AssertionError(f"unexpected annotation {kind}")


def decode_devalue(text: str) -> Any:
    """A devalue string: a pool of values, index 0 the root, -1 undefined."""
    pool = json.loads(text)
    if isinstance(pool, int):
        assert pool == -1
        return None
    done: dict[int, Any] = {}

    def hydrate(index: int) -> Any:
        if index == -1:
            return _MISSING
        if index in done:
            return done[index]
        entry = pool[index]
        if isinstance(entry, list) and entry and isinstance(entry[0], str):
            assert entry[0] == "Date", entry
            done[index] = parse_iso(entry[1])
        elif isinstance(entry, list):
            done[index] = [hydrate(i) for i in entry]
        elif isinstance(entry, dict):
            obj: dict[str, Any] = {}
            done[index] = obj
            for key, item in entry.items():
                child = hydrate(item)
                if child is not _MISSING:
                    obj[key] = child
        else:
            done[index] = entry
        return done[index]

    result = hydrate(0)
    return None if result is _MISSING else result


def decode_payload(payload: Any) -> Any:
    return decode_devalue(payload) if isinstance(payload, str) else decode_superjson(payload)


@dataclass
class Answer:
    status: int
    data: Any  # the decoded result, or None on an error
    error: dict[str, Any] | None  # the decoded error shape
    response: httpx.Response
    encoding: str  # "superjson" | "devalue"


def read_answer(response: httpx.Response) -> Answer:
    body = response.json()
    if isinstance(body, list):
        raise AssertionError("batch answers are read with read_batch")
    if "error" in body:
        encoding = "devalue" if isinstance(body["error"], str) else "superjson"
        return Answer(response.status_code, None, decode_payload(body["error"]), response, encoding)
    payload = body["result"]["data"]
    encoding = "devalue" if isinstance(payload, str) else "superjson"
    return Answer(response.status_code, decode_payload(payload), None, response, encoding)


class Api:
    """A bare tRPC caller: builds URLs and bodies the way the Civitai web client does."""

    def __init__(
        self, base_url: str, headers: dict[str, str] | None = None, **options: Any
    ) -> None:
        self.client = httpx.Client(base_url=base_url, headers=headers or {}, timeout=30, **options)

    def get(
        self, procedure: str, payload: Any = None, raw_input: str | None = None, **kw: Any
    ) -> httpx.Response:
        params = {}
        if raw_input is not None:
            params["input"] = raw_input
        elif payload is not None:
            params["input"] = json.dumps(payload)
        return self.client.get(f"/api/trpc/{procedure}", params=params, **kw)

    def call(self, procedure: str, data: Any = None, **kw: Any) -> Answer:
        return read_answer(self.get(procedure, {"json": data} if data is not None else None, **kw))

    def post(self, procedure: str, data: Any, **kw: Any) -> Answer:
        response = self.client.post(f"/api/trpc/{procedure}", json={"json": data}, **kw)
        return read_answer(response)

    def close(self) -> None:
        self.client.close()


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def emu() -> Iterator[Any]:
    """A green-site emulator the tests read from; tests must not change its settings.

    It answers in superjson, so tests can read raw bodies; devalue, the default,
    is covered where a test asks for it (`encoding="devalue"`).
    """
    config = EmulatorConfig(seed=SEED, images=IMAGES, site_mode="green", encoding="superjson")
    with running_emulator(config) as server:
        yield server


@pytest.fixture
def own_emu() -> Iterator[Callable[..., Any]]:
    """Start a private emulator (for tests that change settings or inject faults)."""
    stack: list[Any] = []

    def start(**options: Any) -> Any:
        options.setdefault("seed", SEED)
        options.setdefault("images", 120)
        options.setdefault("encoding", "superjson")
        manager = running_emulator(EmulatorConfig(**options))
        server = manager.__enter__()
        stack.append(manager)
        return server

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


@pytest.fixture
def api_for() -> Iterator[Callable[..., Api]]:
    """Make tRPC callers: api_for(emu, auth="key"|"cookie"|None, referer=True)."""
    made: list[Api] = []

    def make(server: Any, auth: str | None = "key", referer: bool = True, **options: Any) -> Api:
        headers: dict[str, str] = {}
        if referer:
            headers["Referer"] = server.base_url + "/"
        if auth == "key":
            headers["Authorization"] = f"Bearer {server.api_key}"
        elif auth == "cookie":
            headers["Cookie"] = f"civ-token={server.session_token}"
        api = Api(server.base_url, headers, **options)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


@pytest.fixture
def api(emu: Any, api_for: Callable[..., Api]) -> Api:
    """A signed-in (API key) caller of the shared green emulator."""
    return api_for(emu)


@pytest.fixture
def anon(emu: Any, api_for: Callable[..., Api]) -> Api:
    """An anonymous caller with a Referer of the emulator itself."""
    return api_for(emu, auth=None)
