"""Errors and retries end to end: every injected fault, every error status, the right outcome."""

from __future__ import annotations

from typing import Any

import pytest

from civitai_vault.api import (
    BadRequest,
    CivitaiClient,
    CivitaiError,
    MalformedResponse,
    NetworkError,
    NotFound,
    RateLimited,
    ServerError,
)

FAULT_KINDS = [
    "status_429",
    "status_500",
    "status_502",
    "status_503",
    "dropped",
    "truncated",
    "malformed",
]
EXPECTED_ERROR = {
    "status_429": RateLimited,
    "status_500": ServerError,
    "status_502": ServerError,
    "status_503": ServerError,
    "dropped": NetworkError,
    "truncated": (NetworkError, MalformedResponse),
    "malformed": MalformedResponse,
}


def faults(**values: Any) -> Any:
    from civitai_emulator import Faults

    return Faults(**values)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_is_retried_to_the_right_result(emu: Any, helpers: Any, kind: str) -> None:
    image_id = emu.dataset.named["hostile_image"]
    emu.set_faults(faults(**{kind: 1.0}, limit=3, procedures=frozenset({"image.get"})))

    async def work(client: CivitaiClient) -> tuple[Any, Any]:
        return await client.get_image(image_id), client.stats

    info, stats = helpers.call(work)
    assert info.id == image_id
    assert stats.retries == 3 and stats.by_procedure["image.get"] == 4


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_fault_that_persists_becomes_its_error(emu: Any, helpers: Any, kind: str) -> None:
    emu.set_faults(faults(**{kind: 1.0}, procedures=frozenset({"image.get"})))
    with pytest.raises(CivitaiError) as caught:
        helpers.call(lambda c: c.get_image(emu.dataset.named["video_image"]), max_retries=2)
    error = caught.value
    assert isinstance(error, EXPECTED_ERROR[kind])
    assert error.attempts == 3
    message = str(error)
    assert "\n" not in message and "image.get" in message and "after 3 attempts" in message


def test_statement_timeout_empty_pages_are_asked_again(emu: Any, helpers: Any) -> None:
    dataset = emu.dataset
    collection = dataset.collections[dataset.named["demo_collection"]]

    async def work(client: CivitaiClient) -> tuple[list[int], Any, Any]:
        pages = client.iter_image_pages(collection_id=collection.id, limit=20)
        ids: list[int] = []
        async for page in pages:
            if not ids:  # after the first full page, the next three answers "time out"
                emu.set_faults(faults(empty_pages=1.0, limit=3))
            ids.extend(item.id for item in page.items)
        return ids, pages, client.stats

    ids, pages, stats = helpers.call(work, empty_page_retries=3)
    assert sorted(ids) == sorted(collection.image_ids)
    assert pages.ended_normally is True
    assert pages.empty_page_retries == 3 and stats.empty_page_retries == 3


def test_listing_that_keeps_timing_out_is_not_complete(emu: Any, helpers: Any) -> None:
    collection_id = emu.dataset.named["demo_collection"]

    async def work(client: CivitaiClient) -> tuple[list[int], Any]:
        pages = client.iter_image_pages(collection_id=collection_id, limit=20)
        ids: list[int] = []
        async for page in pages:
            ids.extend(item.id for item in page.items)
            emu.set_faults(faults(empty_pages=1.0))  # every later page "times out"
        return ids, pages

    ids, pages = helpers.call(work, empty_page_retries=2)
    assert len(ids) == 20
    assert pages.ended_normally is False
    assert pages.empty_page_retries == 2


def test_rate_limit_slows_the_pace(emu: Any, helpers: Any) -> None:
    image_id = emu.dataset.named["video_image"]
    emu.set_faults(faults(status_429=1.0, limit=2, procedures=frozenset({"image.get"})))

    async def work(client: CivitaiClient) -> tuple[float, Any]:
        await client.get_image(image_id)
        return client.current_rate, client.stats

    rate, stats = helpers.call(work, rate=50.0)
    assert rate < 50.0
    assert stats.slowdowns == 2


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda c: c.get_image(1), NotFound, "not found"),
        (lambda c: c.get_post(1), NotFound, "not found"),
        (lambda c: c.get_user_collections(), None, "signed in"),
        (
            lambda c: c.call("image.getInfinite", {"postId": 1, "cursor": "nope"}),
            BadRequest,
            "invalid",
        ),
    ],
)
def test_error_statuses_map_to_exceptions(
    emu: Any, helpers: Any, call: Any, error: Any, words: str
) -> None:
    from civitai_vault.api import LoginRequired

    expected = error or LoginRequired
    auth = None if error is None else "key"
    with pytest.raises(expected) as caught:
        helpers.call(call, auth=auth)
    assert words in str(caught.value).lower()
    assert caught.value.attempts == 1  # not worth retrying


def test_unreachable_server_is_a_network_error(helpers: Any) -> None:
    with pytest.raises(NetworkError) as caught:
        helpers.call(lambda c: c.get_image(1), base_url="http://127.0.0.1:9", max_retries=1)
    assert "internet connection" in str(caught.value)


def test_key_without_the_scope_is_access_denied(encoding_emu: Any, helpers: Any) -> None:
    from civitai_vault.api import AccessDenied

    image_id = encoding_emu.dataset.named["video_image"]
    with pytest.raises(AccessDenied) as caught:
        helpers.call(
            lambda c: c.get_image(image_id), auth=None, api_key=encoding_emu.scoped_api_key
        )
    message = str(caught.value)
    assert "HTTP 403" in message and "scope" in message and "full access" in message
    assert encoding_emu.scoped_api_key not in message
    assert caught.value.attempts == 1
