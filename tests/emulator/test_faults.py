"""Injected faults: each kind looks like the real failure, and they stay off unless asked for."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from civitai_emulator import Faults


@pytest.fixture
def server(own_emu) -> Any:
    return own_emu(site_mode="red")


def image_get(api: Any, server: Any) -> httpx.Response:
    return api.get("image.get", {"json": {"id": server.dataset.named["video_image"]}})


def listing(api: Any, server: Any) -> httpx.Response:
    collection_id = server.dataset.named["demo_collection"]
    return api.get("image.getInfinite", {"json": {"collectionId": collection_id, "limit": 10}})


@pytest.mark.parametrize(
    ("kind", "status", "code", "message"),
    [
        ("status_429", 429, "TOO_MANY_REQUESTS", "Server busy — please retry."),
        ("status_500", 500, "INTERNAL_SERVER_ERROR", "statement timeout"),
        ("status_503", 503, "SERVICE_UNAVAILABLE", "Image search is temporarily overloaded"),
    ],
)
def test_error_statuses_have_trpc_bodies(server, api_for, kind, status, code, message) -> None:
    server.set_faults(Faults(**{kind: 1.0}))
    response = listing(api_for(server), server)
    assert response.status_code == status
    assert "retry-after" not in response.headers
    error = response.json()["error"]["json"]
    assert error["data"]["code"] == code and error["data"]["path"] == "image.getInfinite"
    assert message in error["message"]


def test_502_is_an_html_page_from_the_proxy(server, api_for) -> None:
    server.set_faults(Faults(status_502=1.0))
    response = image_get(api_for(server), server)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>502 Bad Gateway</title>" in response.text


def test_truncated_body_is_cut_short_of_its_content_length(server, api_for) -> None:
    server.set_faults(Faults(truncated=1.0))
    with pytest.raises(httpx.RemoteProtocolError, match=r"complete message body"):
        image_get(api_for(server), server)


def test_malformed_json_with_status_200(server, api_for) -> None:
    server.set_faults(Faults(malformed=1.0))
    response = image_get(api_for(server), server)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_dropped_connection_sends_nothing(server, api_for) -> None:
    server.set_faults(Faults(dropped=1.0))
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        image_get(api_for(server), server)
    assert server.request_log[-1].status == 0 and server.request_log[-1].fault == "dropped"


def test_empty_pages_look_like_the_statement_timeout(server, api_for) -> None:
    server.set_faults(Faults(empty_pages=1.0))
    api = api_for(server)
    page = listing(api, server).json()["result"]["data"]
    assert page == {
        "json": {"nextCursor": None, "items": []},
        "meta": {"values": {"nextCursor": ["undefined"]}, "v": 1},
    }
    # Only listings are affected.
    assert image_get(api, server).status_code == 200


def test_latency_is_added(server, api_for) -> None:
    api = api_for(server)
    server.set_faults(Faults(latency=0.25))
    started = time.perf_counter()
    assert image_get(api, server).status_code == 200
    assert time.perf_counter() - started >= 0.25


def test_faults_can_be_limited_to_procedures_and_counts(server, api_for) -> None:
    api = api_for(server)
    server.set_faults(Faults(status_500=1.0, procedures=frozenset({"image.getInfinite"})))
    assert image_get(api, server).status_code == 200
    assert listing(api, server).status_code == 500
    server.set_faults(Faults(status_429=1.0, limit=2))
    statuses = [listing(api, server).status_code for _ in range(4)]
    assert statuses == [429, 429, 200, 200]


def test_shares_are_random_but_repeatable(server, api_for) -> None:
    api = api_for(server)

    def run() -> list[int]:
        server.set_faults(Faults(status_500=0.3, status_503=0.2, seed=4))
        return [image_get(api, server).status_code for _ in range(40)]

    first = run()
    assert set(first) == {200, 500, 503}
    assert run() == first
    server.clear_faults()
    assert {image_get(api, server).status_code for _ in range(10)} == {200}


def test_faults_are_off_by_default_and_checked(server) -> None:
    assert server.config.faults == Faults()
    with pytest.raises(ValueError):
        Faults(status_500=0.7, status_503=0.7)
    with pytest.raises(ValueError):
        Faults(latency=-1)


def test_batches_fail_as_a_whole(server, api_for) -> None:
    server.set_faults(Faults(status_429=1.0))
    image_id = server.dataset.named["video_image"]
    api = api_for(server)
    payload = {"0": {"json": {"id": image_id}}, "1": {"json": {"id": image_id}}}
    response = api.client.get(
        "/api/trpc/image.get,image.getGenerationData",
        params={"batch": "1", "input": json.dumps(payload)},
    )
    assert response.status_code == 429
    assert [item["error"]["json"]["data"]["path"] for item in response.json()] == [
        "image.get",
        "image.getGenerationData",
    ]


# ---------------------------------------------------------------------- CDN


def cdn_get(server: Any) -> httpx.Response:
    image = server.dataset.images[server.dataset.named["exif_jpeg_image"]]
    return httpx.get(f"{server.image_base_url}/{image.uuid}/original=true/x.jpeg")


def test_cdn_faults(server) -> None:
    server.set_faults(Faults(cdn_truncated=1.0))
    with pytest.raises(httpx.RemoteProtocolError):
        cdn_get(server)
    server.set_faults(Faults(cdn_dropped=1.0))
    with pytest.raises(httpx.RemoteProtocolError):
        cdn_get(server)
    for kind, status in (("cdn_status_500", 500), ("cdn_status_502", 502), ("cdn_status_503", 503)):
        server.set_faults(Faults(**{kind: 1.0}))
        assert cdn_get(server).status_code == status
    server.set_faults(Faults(cdn_latency=0.2))
    started = time.perf_counter()
    assert cdn_get(server).status_code == 200
    assert time.perf_counter() - started >= 0.2
    # API faults leave the CDN alone and the other way round.
    server.set_faults(Faults(status_500=1.0))
    assert cdn_get(server).status_code == 200


def test_request_log_and_count(server, api_for) -> None:
    api = api_for(server)
    server.clear_log()
    image_get(api, server)
    listing(api, server)
    image_get(api, server)
    assert server.count() == 3
    assert server.count(procedure="image.get") == 2
    assert server.count(listener="api") == 3 and server.count(listener="cdn") == 0
    entry = server.request_log[0]
    assert (entry.listener, entry.method, entry.procedure, entry.status) == (
        "api",
        "GET",
        "image.get",
        200,
    )
    assert entry.path == "/api/trpc/image.get"
    assert entry.headers["authorization"] == f"Bearer {server.api_key}"
    assert all(key == key.lower() for key in entry.headers)


def test_heavy_requests_beyond_the_bulkhead_get_429(server) -> None:
    """More than 20 listings in flight at once: the rest are turned away, as on Civitai."""
    server.set_faults(Faults(latency=0.4))
    url = f"{server.base_url}/api/trpc/image.getInfinite"
    params = {
        "input": json.dumps({"json": {"collectionId": server.dataset.named["demo_collection"]}})
    }
    headers = {"Authorization": f"Bearer {server.api_key}"}

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=30)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
            return await asyncio.gather(*(client.get(url, params=params) for _ in range(26)))

    responses = asyncio.run(burst())
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 20 and 429 in statuses
    busy = next(r for r in responses if r.status_code == 429)
    assert busy.json()["error"]["json"]["message"] == "Server busy — please retry."


def test_many_concurrent_downloads(server) -> None:
    records = [server.dataset.images[i] for i in server.dataset.image_ids[:40]]

    def url(record: Any) -> str:
        params = "transcode=true" if record.type == "video" else "original=true"
        return f"{server.image_base_url}/{record.uuid}/{params}/{record.id}"

    async def download() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            urls = [url(r) for r in records] * 2
            return await asyncio.gather(*(client.get(u) for u in urls))

    responses = asyncio.run(download())
    assert all(r.status_code == 200 for r in responses)
    assert responses[0].content == responses[len(records)].content
