"""The superjson and devalue decoders, on the documented wire examples and on generated values."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civitai_vault.api.codec import (
    UNDEFINED,
    Budget,
    CodecError,
    decode_devalue,
    decode_superjson,
    encode_devalue,
    encode_superjson,
    settle,
)

# ---------------------------------------------------------------- generated values

# JS Dates carry milliseconds; the wire is UTC.
dates = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
keys = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8) | (
    st.sampled_from(["a.b", "a\\.b", "\\", ".", "items", "0", "__proto__x"])
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | dates
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(keys, children | st.just(UNDEFINED), max_size=4)
    ),
    max_leaves=20,
)


def expected(value: Any) -> Any:
    """What a decoder must give back: undefined members absent, -0.0 as 0 for comparison."""
    if isinstance(value, dict):
        return {k: expected(v) for k, v in value.items() if v is not UNDEFINED}
    if isinstance(value, list):
        return [expected(v) for v in value]
    return value


def over_the_wire(envelope: Any) -> Any:
    return json.loads(json.dumps(envelope))


@settings(max_examples=300, deadline=None)
@given(values)
def test_superjson_round_trip(value: Any) -> None:
    assert decode_superjson(over_the_wire(encode_superjson(value))) == expected(value)


@settings(max_examples=300, deadline=None)
@given(values)
def test_devalue_round_trip(value: Any) -> None:
    assert decode_devalue(encode_devalue(value)) == expected(value)


@given(dates)
def test_dates_come_back_aware_and_equal(when: datetime) -> None:
    for decoded in (
        decode_superjson(over_the_wire(encode_superjson({"at": when})))["at"],
        decode_devalue(encode_devalue({"at": when}))["at"],
    ):
        assert decoded == when
        assert decoded.tzinfo is not None


# ---------------------------------------------------------------- documented wire examples


def test_superjson_page_from_the_reference() -> None:
    # civitai-api.md 1.4, an image.getInfinite page as superjson 2.2.6 writes it.
    envelope = {
        "json": {
            "nextCursor": 26962900,
            "items": [
                {
                    "id": 26962948,
                    "url": "69bf3279-df2c-4ec8-b795-479e9cd3db1b",
                    "createdAt": "2024-08-31T01:11:47.021Z",
                    "sortAt": "2024-08-31T01:11:52.175Z",
                    "publishedAt": "2024-08-31T01:11:52.175Z",
                    "baseModel": None,
                    "tags": None,
                    "thumbnailUrl": None,
                }
            ],
        },
        "meta": {
            "values": {
                "items.0.createdAt": ["Date"],
                "items.0.sortAt": ["Date"],
                "items.0.publishedAt": ["Date"],
                "items.0.baseModel": ["undefined"],
                "items.0.tags": ["undefined"],
                "items.0.thumbnailUrl": ["undefined"],
            },
            "referentialEqualities": {"items.0.sortAt": ["items.0.publishedAt"]},
            "v": 1,
        },
    }
    page = decode_superjson(envelope)
    item = page["items"][0]
    assert page["nextCursor"] == 26962900
    assert item["createdAt"] == datetime(2024, 8, 31, 1, 11, 47, 21000, tzinfo=UTC)
    assert item["publishedAt"] == item["sortAt"]
    assert "baseModel" not in item and "tags" not in item and "thumbnailUrl" not in item


def test_superjson_special_roots_and_empty_listing() -> None:
    assert decode_superjson({"json": None}) is None
    assert decode_superjson({"json": None, "meta": {"values": ["undefined"], "v": 1}}) is None
    private = {
        "json": {"nextCursor": None, "items": []},
        "meta": {"values": {"nextCursor": ["undefined"]}, "v": 1},
    }
    assert decode_superjson(private) == {"items": []}


def test_superjson_nested_map_set_bigint_and_escaped_keys() -> None:
    envelope = {
        "json": {
            "m": [["a", "2024-01-01T00:00:00.000Z"]],
            "s": [1, 2],
            "big": "12345678901234567890",
            "a.b": "2024-01-02T00:00:00.000Z",
            "n": "NaN",
        },
        "meta": {
            "values": {
                "m": ["map", {"0.1": ["Date"]}],
                "s": ["set"],
                "big": ["bigint"],
                "a\\.b": ["Date"],
                "n": ["number"],
            }
        },
    }
    value = decode_superjson(envelope)
    assert value["m"] == {"a": datetime(2024, 1, 1, tzinfo=UTC)}
    assert value["s"] == [1, 2]
    assert value["big"] == 12345678901234567890
    assert value["a.b"] == datetime(2024, 1, 2, tzinfo=UTC)
    assert math.isnan(value["n"])


def test_devalue_example_from_the_reference() -> None:
    text = '[{"id":1,"name":2,"createdAt":3,"n":-1},5,"x",["Date","2024-08-31T01:11:47.021Z"]]'
    assert decode_devalue(text) == {
        "id": 5,
        "name": "x",
        "createdAt": datetime(2024, 8, 31, 1, 11, 47, 21000, tzinfo=UTC),
    }


def test_devalue_types_holes_and_constants() -> None:
    pool = [
        {"m": 1, "s": 4, "b": 6, "h": 7, "z": 8, "o": 9, "r": 11},
        ["Map", 2, 3],
        "k",
        -3,
        ["Set", 2, 5],
        "v",
        ["BigInt", "9007199254740993"],
        [-2, 5, -1],
        -6,
        ["null", "x", 10],
        1.5,
        ["RegExp", "a+", "g"],
    ]
    value = decode_devalue(json.dumps(pool))
    assert value["s"] == ["k", "v"]
    assert value["b"] == 9007199254740993
    assert value["h"] == [None, "v", None]
    assert value["o"] == {"x": 1.5}
    assert value["r"] == "a+"
    # pool entry 3 is the number -3 itself (a primitive, not a reference)
    assert value["m"] == {"k": -3}
    assert decode_devalue("-1") is None
    assert math.isnan(decode_devalue("-3"))


@settings(max_examples=300, deadline=None)
@given(values)
def test_devalue_counts_the_values_of_the_plain_copy(value: Any) -> None:
    budget, copy = Budget(), Budget()
    decoded = decode_devalue(encode_devalue(value), budget)
    settle(decoded, copy)
    assert budget.used == copy.used


def test_devalue_shared_references_and_sparse_arrays() -> None:
    shared = decode_devalue('[{"a":1,"b":1},{"x":2},7]')
    assert shared == {"a": {"x": 7}, "b": {"x": 7}}
    assert shared["a"] is not shared["b"]  # each reference its own copy, as JSON gives
    assert decode_devalue("[[-7,4,1,1],9]") == [None, 9, None, None]


@pytest.mark.parametrize(
    "text",
    ["", "{}", "[]", '[{"a":5}]', "-9", '[["Nope",1,2]]', '[{"a":0}', '[{"a":"x"}]'],
)
def test_devalue_rejects_garbage(text: str) -> None:
    with pytest.raises(CodecError):
        decode_devalue(text)


@pytest.mark.parametrize("text", ['[{"a":-1.0}]', "[[-2.0]]", '[{"a":true}]', '[[1.0],"x"]'])
def test_devalue_references_are_integers(text: str) -> None:
    with pytest.raises(CodecError, match="not an index"):
        decode_devalue(text)


def test_devalue_cycle_is_an_error_not_a_crash() -> None:
    with pytest.raises(CodecError):
        decode_devalue('[{"self":0}]')


@pytest.mark.parametrize(
    "envelope",
    [
        {"nojson": 1},
        {"json": {"a": 1}, "meta": {"values": {"b": ["Date"]}}},
        {"json": {"a": 1}, "meta": {"values": {"a": ["Frobnicate"]}}},
        {"json": [1], "meta": {"values": {"5": ["Date"]}}},
    ],
)
def test_superjson_rejects_garbage(envelope: Any) -> None:
    with pytest.raises(CodecError):
        decode_superjson(envelope)


def test_encoders_write_what_the_libraries_write() -> None:
    assert encode_superjson({"id": 1}) == {"json": {"id": 1}}
    assert encode_superjson({"id": 1, "cursor": UNDEFINED}) == {
        "json": {"id": 1, "cursor": None},
        "meta": {"values": {"cursor": ["undefined"]}, "v": 1},
    }
    when = datetime(2024, 8, 31, 1, 11, 47, 21000, tzinfo=UTC)
    assert encode_devalue({"id": 5, "name": "x", "createdAt": when, "n": UNDEFINED}) == (
        '[{"id":1,"name":2,"createdAt":3,"n":-1},5,"x",["Date","2024-08-31T01:11:47.021Z"]]'
    )
    naive_utc = when.replace(tzinfo=None)
    assert encode_superjson({"d": naive_utc})["json"]["d"] == "2024-08-31T01:11:47.021Z"
    plus_two = when.astimezone(timezone(timedelta(hours=2)))
    assert encode_superjson({"d": plus_two})["json"]["d"] == "2024-08-31T01:11:47.021Z"
