"""Turning what a user types or pastes into a Target."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civitai_vault.sources import SOURCES, Target, parse_target


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("https://civitai.com/collections/123", Target("collection", 123, site="com")),
        (
            "https://www.civitai.com/collections/123?sort=Newest#x",
            Target("collection", 123, site="com"),
        ),
        ("civitai.com/images/98765", Target("image", 98765, site="com")),
        ("https://civitai.red/images/5/", Target("image", 5, site="red")),
        ("http://www.civitai.red/posts/77?modelId=3", Target("post", 77, site="red")),
        (
            "https://civitai.com/user/Some_Name/collections",
            Target("user_collections", username="Some_Name", site="com"),
        ),
        (
            "https://civitai.red/user/artist/images?sort=Newest",
            Target("user_images", username="artist", site="red"),
        ),
        ("HTTPS://CIVITAI.COM/collections/9", Target("collection", 9, site="com")),
        ("collection:42", Target("collection", 42)),
        ("Image:7", Target("image", 7)),
        ("post: 3", Target("post", 3)),
        ("me", Target("me")),
        (" ME ", Target("me")),
        ("117165031", Target("image", 117165031)),
    ],
)
def test_accepted_forms(text: str, target: Target) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "https://example.com/collections/1",
        "https://civitai.com/models/abc/some-model",
        "https://civitai.com/articles/5",
        "https://civitai.com/collections/abc",
        "https://civitai.com/user/../collections",
        "https://civitai.com/user/a%2Fb/images",
        "collection:",
        "collection:-1",
        "image:0",
        "0",
        "folder:12",
        "ftp://civitai.com/images/1",
        "https://civitai.com.evil.example/images/1",
        "99999999999999999",
    ],
)
def test_rejected_forms_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_target(text)
    message = str(caught.value)
    assert "\n" not in message
    assert "collection:N, image:N, post:N, user:NAME" in message


def test_a_long_hostile_input_is_not_echoed_in_full() -> None:
    hostile = "x" * 5000 + "\x1b[31m"
    with pytest.raises(ValueError) as caught:
        parse_target(hostile)
    assert len(str(caught.value)) < 400
    assert "\x1b" not in str(caught.value)


ids = st.integers(min_value=1, max_value=2**53 - 1)
hosts = st.sampled_from(
    [
        ("civitai.com", "com"),
        ("www.civitai.com", "com"),
        ("civitai.red", "red"),
        ("www.civitai.red", "red"),
    ]
)
schemes = st.sampled_from(["https://", "http://", ""])
queries = st.sampled_from(["", "?sort=Newest", "?period=AllTime#frag", "/"])
names = st.from_regex(r"[A-Za-z0-9_]{1,30}", fullmatch=True)


@given(st.sampled_from(["collection", "image", "post"]), ids, hosts, schemes, queries)
def test_any_id_url_parses(
    kind: str, number: int, host: tuple[str, str], scheme: str, query: str
) -> None:
    target = parse_target(f"{scheme}{host[0]}/{kind}s/{number}{query}")
    assert target == Target(kind, number, site=host[1])  # type: ignore[arg-type]


@given(st.sampled_from(["images", "collections"]), names, hosts, queries)
def test_any_user_url_parses(what: str, name: str, host: tuple[str, str], query: str) -> None:
    target = parse_target(f"https://{host[0]}/user/{name}/{what}{query}")
    assert target.username == name
    assert target.kind == ("user_images" if what == "images" else "user_collections")
    assert target.site == host[1]


@given(st.sampled_from(["collection", "image", "post"]), ids)
def test_prefixed_and_bare_forms_round_trip(kind: str, number: int) -> None:
    target = parse_target(f"{kind}:{number}")
    assert target == Target(kind, number)  # type: ignore[arg-type]
    assert parse_target(str(target)) == target
    assert parse_target(str(number)) == Target("image", number)


@given(st.text(max_size=60))
def test_anything_either_parses_or_raises_value_error(text: str) -> None:
    try:
        target = parse_target(text)
    except ValueError as exc:
        assert "\n" not in str(exc)
    else:
        assert target.kind in SOURCES
