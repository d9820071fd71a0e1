"""How requests are built and signed: headers, inputs, each way of signing in, the NSFW clamp."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest

from civitai_vault.api import CivitaiClient, ClientSettings, InsecureBaseURL, LoginRequired
from civitai_vault.api.errors import KeyRejected


def api_calls(helpers: Any, procedure: str) -> list[Any]:
    return [e for e in helpers.log("api") if _field(e, "procedure") == procedure]


def _field(entry: Any, name: str) -> Any:
    return entry.get(name) if isinstance(entry, dict) else getattr(entry, name, None)


def sent_input(entry: Any) -> dict[str, Any]:
    """The decoded `input` of a logged GET call."""
    query = parse_qs(str(_field(entry, "query")))
    return json.loads(query["input"][0])


def test_requests_carry_site_origin_and_referer(
    emu: Any, helpers: Any, entry_header_of: Any
) -> None:
    image_id = emu.dataset.named["video_image"]
    helpers.call(lambda c: c.get_image(image_id), auth=None)
    entry = api_calls(helpers, "image.get")[-1]
    assert entry_header_of(entry, "origin") == emu.base_url
    assert entry_header_of(entry, "referer") == emu.base_url + "/"
    assert entry_header_of(entry, "authorization") is None
    assert entry_header_of(entry, "cookie") is None
    assert sent_input(entry) == {"json": {"id": image_id}}  # anonymous: no authed flag


def test_signed_in_inputs_say_authed_and_first_page_has_no_cursor(emu: Any, helpers: Any) -> None:
    collection_id = emu.dataset.named["demo_collection"]

    async def work(client: CivitaiClient) -> None:
        async for _ in client.iter_image_pages(collection_id=collection_id, limit=100):
            pass

    helpers.call(work)
    inputs = [sent_input(e)["json"] for e in api_calls(helpers, "image.getInfinite")[-3:]]
    first = next(i for i in inputs if "cursor" not in i)
    assert first["authed"] is True and first["collectionId"] == collection_id
    later = [i for i in inputs if "cursor" in i]
    assert later and all(isinstance(i["cursor"], int) for i in later)
    assert all("meta" not in sent_input(e) for e in api_calls(helpers, "image.getInfinite"))


def test_bearer_key(emu: Any, helpers: Any, entry_header_of: Any) -> None:
    me = helpers.call(lambda c: c.whoami(), auth="key")
    assert me.signed_in and me.username == emu.dataset.owner.username
    entry = api_calls(helpers, "collection.getAllUser")[-1]
    assert entry_header_of(entry, "authorization") == f"Bearer {emu.api_key}"
    assert entry_header_of(entry, "cookie") is None


def test_session_cookie_named_for_http(emu: Any, helpers: Any, entry_header_of: Any) -> None:
    collections = helpers.call(lambda c: c.get_user_collections(), auth="cookie")
    assert collections
    entry = api_calls(helpers, "collection.getAllUser")[-1]
    assert entry_header_of(entry, "cookie") == f"civ-token={emu.session_token}"
    assert entry_header_of(entry, "authorization") is None


def test_legacy_cookie_is_upgraded_and_reported(
    emu: Any, helpers: Any, entry_header_of: Any
) -> None:
    reported: list[tuple[str, str]] = []

    async def work(client: CivitaiClient) -> None:
        await client.get_user_collections()
        await client.get_user_collections()

    helpers.call(
        work, auth="legacy", on_session_cookie=lambda name, value: reported.append((name, value))
    )
    assert len(reported) == 1
    name, value = reported[0]
    assert name.removeprefix("__Secure-") == "civ-token" and value
    first, second = api_calls(helpers, "collection.getAllUser")[-2:]
    assert emu.legacy_token in (entry_header_of(first, "cookie") or "")
    assert f"{name}={value}" in (entry_header_of(second, "cookie") or "")


def test_no_credentials_cannot_list_own_collections(emu: Any, helpers: Any) -> None:
    with pytest.raises(LoginRequired) as caught:
        helpers.call(lambda c: c.get_user_collections(), auth=None)
    message = str(caught.value)
    assert "collection.getAllUser" in message and "civitai-vault login" in message
    assert "\n" not in message


def test_a_wrong_key_is_rejected_not_taken_for_anonymous(emu: Any, helpers: Any) -> None:
    """Live, an unknown key gets 401 (civitai-api.md, first section): say the key is wrong."""
    from civitai_vault.api import KeyRejected

    with pytest.raises(KeyRejected) as caught:
        helpers.call(lambda c: c.whoami(), auth=None, api_key="not-a-real-key")
    assert str(caught.value).startswith("Civitai rejected your API key")
    assert "civitai-vault login" in str(caught.value)
    assert "not-a-real-key" not in str(caught.value)


def test_a_rejected_key_is_named_as_such(emu: Any, helpers: Any) -> None:
    # Civitai answers an unknown key with its "use the public API" 401, whatever the
    # Origin: the message must say the key was rejected, not blame the site.
    with pytest.raises(KeyRejected) as caught:
        helpers.call(lambda c: c.get_image(emu.dataset.image_ids[0]), auth=None, api_key="nope")
    assert "rejected your API key" in str(caught.value)


def test_credentials_never_in_errors_or_repr(emu: Any, helpers: Any) -> None:
    settings = helpers.settings("key")
    client = CivitaiClient(settings)
    assert emu.api_key not in repr(client) and emu.api_key not in repr(settings)
    with pytest.raises(Exception) as caught:
        helpers.call(lambda c: c.get_image(1), auth="key")
    assert emu.api_key not in str(caught.value) and emu.api_key not in repr(caught.value)


def test_green_site_clamps_signed_in_listing(emu: Any, helpers: Any) -> None:
    dataset = emu.dataset
    collection = dataset.collections[dataset.named["all_collection"]]

    async def listing(client: CivitaiClient) -> list[int]:
        pages = client.iter_image_pages(collection_id=collection.id, limit=200)
        return [item.id async for page in pages for item in page.items]

    red = helpers.call(listing)
    emu.config.site_mode = "green"
    green = helpers.call(listing, site="com")
    anonymous = helpers.call(listing, site="com", auth=None)
    assert set(green) < set(red)
    assert {dataset.nsfw_level_of(i) for i in green} <= {1, 2}
    assert any(dataset.nsfw_level_of(i) >= 4 for i in red)
    assert anonymous == []  # the collection is private: anonymous sees an empty listing


def test_site_is_green_follows_settings() -> None:
    assert CivitaiClient(ClientSettings(site="com")).site_is_green
    assert not CivitaiClient(ClientSettings(site="red")).site_is_green


def test_plain_http_elsewhere_is_refused_with_credentials(emu: Any) -> None:
    with pytest.raises(InsecureBaseURL):
        ClientSettings(base_url="http://civitai.example", api_key=emu.api_key)


def test_cookie_names_follow_the_scheme() -> None:
    from civitai_vault.api.auth import SessionCookies

    hub = "eyJhbGciOiJFUzI1NiJ9.claims.signature"
    legacy = "eyJhbGciOiJkaXIifQ..iv.cipher.tag"
    https = "https://civitai.com"
    assert SessionCookies(ClientSettings(base_url=https, token=hub)).header() == (
        f"__Secure-civ-token={hub}"
    )
    assert SessionCookies(ClientSettings(base_url=https, token=legacy)).header() == (
        f"__Secure-civitai-token={legacy}"
    )
    local = "http://127.0.0.1:1"
    assert SessionCookies(ClientSettings(base_url=local, token=hub)).header() == f"civ-token={hub}"
    named = SessionCookies(ClientSettings(base_url=local, token=f"__Secure-civitai-token={hub}"))
    assert named.header() == f"civitai-token={hub}"  # a pasted NAME=VALUE names the cookie


def test_pasted_cookie_with_its_name_signs_in(emu: Any, helpers: Any) -> None:
    me = helpers.call(
        lambda c: c.whoami(), auth=None, token=f"__Secure-civitai-token={emu.legacy_token}"
    )
    assert me.signed_in
