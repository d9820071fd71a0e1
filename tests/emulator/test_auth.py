"""Sessions, the Origin rule and the site (civitai-api.md §2)."""

from __future__ import annotations

import json
from typing import Any

import httpx

PUBLIC_API = "Please use the public API instead: https://developer.civitai.com/"


def get_all_user(emu: Any, **headers: str) -> httpx.Response:
    return httpx.get(
        f"{emu.base_url}/api/trpc/collection.getAllUser",
        params={"input": '{"json":{}}'},
        headers=headers,
    )


def message(response: httpx.Response) -> str:
    return response.json()["error"]["json"]["message"]


def test_bearer_key_signs_in_and_skips_the_origin_check(emu) -> None:
    response = get_all_user(emu, Authorization=f"Bearer {emu.api_key}")
    assert response.status_code == 200
    owned = {c["id"] for c in response.json()["result"]["data"]["json"]}
    expected = {
        c.id for c in emu.dataset.collections.values() if c.owner_id == emu.dataset.owner.id
    }
    assert owned == expected
    assert emu.dataset.named["demo_collection"] in owned  # private ones included
    # Any scheme word works: the key is the second word.
    assert get_all_user(emu, Authorization=f"Token {emu.api_key}").status_code == 200


def test_token_query_parameter_is_an_api_key(emu) -> None:
    response = httpx.get(
        f"{emu.base_url}/api/trpc/collection.getAllUser",
        params={"input": '{"json":{}}', "token": emu.api_key},
    )
    assert response.status_code == 200


def test_without_origin_or_referer_the_web_api_refuses(emu) -> None:
    response = get_all_user(emu)
    assert response.status_code == 401 and message(response) == PUBLIC_API
    foreign = get_all_user(
        emu, Referer="https://example.com/", Cookie=f"civ-token={emu.session_token}"
    )
    assert foreign.status_code == 401 and message(foreign) == PUBLIC_API


def test_unknown_key_is_refused_even_from_a_civitai_page(emu) -> None:
    # The live site answers an invalid key so (probes of 2026-07 and 2026-09), on public
    # procedures too: it is not treated as anonymous.
    no_origin = get_all_user(emu, Authorization="Bearer not-a-key")
    assert no_origin.status_code == 401 and message(no_origin) == PUBLIC_API
    with_origin = get_all_user(
        emu, Authorization="Bearer not-a-key", Referer="https://civitai.com/"
    )
    assert with_origin.status_code == 401 and message(with_origin) == PUBLIC_API
    public = httpx.get(
        f"{emu.base_url}/api/trpc/image.get",
        params={"input": json.dumps({"json": {"id": emu.dataset.image_ids[0]}})},
        headers={"Authorization": "Bearer not-a-key", "Referer": "https://civitai.com/"},
    )
    assert public.status_code == 401 and message(public) == PUBLIC_API


def test_accepted_origins(emu) -> None:
    cookie = f"civ-token={emu.session_token}"
    for origin in (
        "https://civitai.com",
        "https://civitai.red/images/1",
        "https://www.civitai.com/",
        "https://pr-123.civitaic.com",
        emu.base_url,
    ):
        response = get_all_user(emu, Origin=origin, Cookie=cookie)
        assert response.status_code == 200, origin
    for origin in ("https://civitai.com.evil.net", "https://notcivitai.com", "null"):
        assert get_all_user(emu, Origin=origin, Cookie=cookie).status_code == 401, origin


def test_session_cookie_name_follows_the_scheme(emu) -> None:
    referer = {"Referer": "https://civitai.com/"}
    plain = get_all_user(emu, Cookie=f"civ-token={emu.session_token}", **referer)
    assert plain.status_code == 200
    secure_over_http = get_all_user(
        emu, Cookie=f"__Secure-civ-token={emu.session_token}", **referer
    )
    assert secure_over_http.status_code == 401
    https = {"X-Forwarded-Proto": "https", **referer}
    secure = get_all_user(emu, Cookie=f"__Secure-civ-token={emu.session_token}", **https)
    assert secure.status_code == 200
    assert get_all_user(emu, Cookie=f"civ-token={emu.session_token}", **https).status_code == 401
    wrong = get_all_user(emu, Cookie="civ-token=eyJ.bogus.token", **referer)
    assert wrong.status_code == 401 and message(wrong) == "UNAUTHORIZED"


def test_authorization_header_wins_over_cookies(emu) -> None:
    response = get_all_user(
        emu,
        Authorization="Bearer wrong",
        Cookie=f"civ-token={emu.session_token}",
        Referer="https://civitai.com/",
    )
    assert response.status_code == 401


def test_legacy_cookie_is_upgraded_with_set_cookie(emu) -> None:
    response = get_all_user(
        emu, Cookie=f"__Secure-civitai-token={emu.legacy_token}", Referer=emu.base_url
    )
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    assert any(c.startswith(f"civ-token={emu.session_token};") for c in cookies)
    assert any(c.startswith("civ-device=") for c in cookies)
    assert any(c.startswith("__Secure-civitai-token=;") and "Max-Age=0" in c for c in cookies)
    assert not any("Domain=" in c for c in cookies)  # host-only on loopback

    # A client with a cookie jar keeps the upgraded cookie and is signed in with it.
    with httpx.Client(base_url=emu.base_url, headers={"Referer": emu.base_url}) as client:
        client.cookies.set("__Secure-civitai-token", emu.legacy_token)
        first = client.get("/api/trpc/collection.getAllUser", params={"input": '{"json":{}}'})
        assert first.status_code == 200
        assert client.cookies.get("civ-token") == emu.session_token
        client.cookies.delete("__Secure-civitai-token")
        again = client.get("/api/trpc/collection.getAllUser", params={"input": '{"json":{}}'})
        assert again.status_code == 200 and "set-cookie" not in again.headers


def test_upgrade_over_https_on_civitai_host_sets_secure_domain_cookies(emu) -> None:
    response = get_all_user(
        emu,
        Cookie=f"__Secure-civitai-token={emu.legacy_token}",
        Referer="https://civitai.com/",
        Host="civitai.com",
        **{"X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    token = next(c for c in cookies if c.startswith("__Secure-civ-token="))
    assert "Secure" in token and "Domain=.civitai.com" in token and "HttpOnly" in token


def test_checks_run_in_middleware_order(emu) -> None:
    """Origin before session before input: each failure hides the later ones."""
    url = f"{emu.base_url}/api/trpc/collection.getAllUser"
    bad_input = {"input": '{"json":{"type":"Nonsense"}}'}
    no_origin = httpx.get(url, params=bad_input)
    assert message(no_origin) == PUBLIC_API
    no_session = httpx.get(url, params=bad_input, headers={"Referer": emu.base_url})
    assert message(no_session) == "UNAUTHORIZED"
    signed_in = httpx.get(url, params=bad_input, headers={"Authorization": f"Bearer {emu.api_key}"})
    assert signed_in.status_code == 400
    # An unknown procedure and a wrong method are answered before any of these.
    unknown = httpx.get(f"{emu.base_url}/api/trpc/x.y", params={"input": "{"})
    assert unknown.status_code == 404
    mutation = httpx.get(f"{emu.base_url}/api/trpc/reaction.toggle")
    assert mutation.status_code == 405


def test_anonymous_public_procedures_work_with_a_referer(anon, emu) -> None:
    answer = anon.call("image.get", {"id": emu.dataset.named["r_rated_image"]})
    assert answer.status == 200 and answer.data["nsfwLevel"] == 4  # no gating by id


def test_a_key_without_the_scope_gets_403(emu) -> None:
    headers = {"Authorization": f"Bearer {emu.scoped_api_key}"}
    image = httpx.get(
        f"{emu.base_url}/api/trpc/image.get",
        params={"input": json.dumps({"json": {"id": emu.dataset.named["video_image"]}})},
        headers=headers,
    )
    assert image.status_code == 403
    error = image.json()["error"]["json"]
    assert error["message"] == "Your API key does not have the required scope for this action"
    assert error["data"]["code"] == "FORBIDDEN"
    creator = httpx.get(
        f"{emu.base_url}/api/trpc/user.getCreator",
        params={"input": json.dumps({"json": {"username": emu.dataset.named["owner_username"]}})},
        headers=headers,
    )
    assert creator.status_code == 200  # UserRead is the scope it has
