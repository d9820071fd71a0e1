"""The emulator's superjson and devalue codecs: exact bytes from the reference, and round trips."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from civitai_emulator import devalue, superjson
from civitai_emulator.jsvalues import UNDEFINED, iso_date

AUG_31 = datetime(2024, 8, 31, 1, 11, 47, 21000, tzinfo=UTC)


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# ------------------------------------------------------------- exact outputs


def test_superjson_annotates_undefined_like_superjson_2() -> None:
    assert compact(superjson.serialize({"id": 1, "cursor": UNDEFINED})) == (
        '{"json":{"id":1,"cursor":null},"meta":{"values":{"cursor":["undefined"]},"v":1}}'
    )


def test_superjson_leaves_meta_out_when_nothing_needs_annotating() -> None:
    assert compact(superjson.serialize({"id": 1})) == '{"json":{"id":1}}'
    assert compact(superjson.serialize(None)) == '{"json":null}'


def test_superjson_undefined_root() -> None:
    assert (
        compact(superjson.serialize(UNDEFINED))
        == '{"json":null,"meta":{"values":["undefined"],"v":1}}'
    )


def test_superjson_listing_page_matches_reference_bytes() -> None:
    published = datetime(2024, 8, 31, 1, 11, 52, 175000, tzinfo=UTC)
    page = {
        "nextCursor": 26962900,
        "items": [
            {
                "id": 26962948,
                "createdAt": AUG_31,
                "sortAt": published,
                "publishedAt": published,
                "baseModel": UNDEFINED,
                "tags": UNDEFINED,
            }
        ],
    }
    assert compact(superjson.serialize(page)) == (
        '{"json":{"nextCursor":26962900,"items":[{"id":26962948,'
        '"createdAt":"2024-08-31T01:11:47.021Z","sortAt":"2024-08-31T01:11:52.175Z",'
        '"publishedAt":"2024-08-31T01:11:52.175Z","baseModel":null,"tags":null}]},'
        '"meta":{"values":{"items.0.createdAt":["Date"],"items.0.sortAt":["Date"],'
        '"items.0.publishedAt":["Date"],"items.0.baseModel":["undefined"],'
        '"items.0.tags":["undefined"]},'
        '"referentialEqualities":{"items.0.sortAt":["items.0.publishedAt"]},"v":1}}'
    )


def test_superjson_escapes_dots_in_keys() -> None:
    out = superjson.serialize({"a.b": {"c\\d": UNDEFINED}})
    assert out["meta"]["values"] == {"a\\.b.c\\\\d": ["undefined"]}
    assert superjson.parse_path("a\\.b.c\\\\d") == ["a.b", "c\\d"]


def test_superjson_writes_whole_doubles_as_javascript_does() -> None:
    assert compact(superjson.serialize({"cfg": 7.0, "s": 0.5})) == '{"json":{"cfg":7,"s":0.5}}'


def test_devalue_matches_reference_example() -> None:
    value = {"id": 5, "name": "x", "createdAt": AUG_31, "n": UNDEFINED}
    assert devalue.stringify(value) == (
        '[{"id":1,"name":2,"createdAt":3,"n":-1},5,"x",["Date","2024-08-31T01:11:47.021Z"]]'
    )


def test_devalue_shares_equal_primitives_but_not_equal_objects() -> None:
    text = devalue.stringify({"a": "same", "b": "same", "c": [1], "d": [1], "e": 1})
    assert text == '[{"a":1,"b":1,"c":2,"d":4,"e":3},"same",[3],1,[3]]'


def test_devalue_escapes_markup_and_control_characters() -> None:
    text = devalue.stringify('<script>\u2028\n"q"\\')
    assert text == '["\\u003Cscript>\\u2028\\n\\"q\\"\\\\"]'
    assert devalue.parse(text) == '<script>\u2028\n"q"\\'


def test_devalue_special_numbers_and_root_undefined() -> None:
    assert devalue.stringify(UNDEFINED) == "-1"
    assert devalue.stringify([math.nan, math.inf, -math.inf, -0.0]) == "[[-3,-4,-5,-6]]"
    parsed = devalue.parse("[[-3,-4,-5,-6]]")
    assert math.isnan(parsed[0]) and parsed[1:3] == [math.inf, -math.inf]
    assert math.copysign(1, parsed[3]) == -1


def test_devalue_rejects_what_devalue_rejects() -> None:
    for bad in ("{}", "[]", "5", "null", '{"id":1}'):
        try:
            devalue.parse(bad)
        except devalue.DevalueError as error:
            assert str(error) == "Invalid input"
        else:
            raise AssertionError(f"{bad} was accepted")


def test_superjson_input_with_annotations() -> None:
    payload = {
        "json": {
            "id": 1,
            "cursor": None,
            "when": "2024-08-31T01:11:47.021Z",
            "big": "9007199254740993",
        },
        "meta": {"values": {"cursor": ["undefined"], "when": ["Date"], "big": ["bigint"]}, "v": 1},
    }
    assert superjson.deserialize(payload) == {"id": 1, "when": AUG_31, "big": 9007199254740993}


def test_superjson_input_annotation_for_an_absent_key_is_harmless() -> None:
    # The seed project always sends the cursor annotation, even for image.get.
    payload = {"json": {"id": 7}, "meta": {"values": {"cursor": ["undefined"]}}}
    assert superjson.deserialize(payload) == {"id": 7}


# ------------------------------------------------------------------ round trips

keys = st.text(min_size=0, max_size=8)
dates = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False, width=64)
    | st.text(max_size=20)
    | dates
)
values = st.recursive(
    scalars | st.just(UNDEFINED),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)


def normalise(value: object, drop_undefined: bool) -> object:
    """What JavaScript would hold after a round trip: whole doubles are ints, -0 is 0."""
    if isinstance(value, dict):
        return {
            k: normalise(v, drop_undefined)
            for k, v in value.items()
            if not (drop_undefined and v is UNDEFINED)
        }
    if isinstance(value, list):
        return [normalise(v, drop_undefined) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


@settings(max_examples=300, deadline=None)
@given(values)
def test_superjson_round_trip(value: object) -> None:
    encoded = json.loads(json.dumps(superjson.serialize(value)))
    decoded = superjson.deserialize(encoded)
    expected = normalise(value, drop_undefined=True)
    if value is UNDEFINED:
        assert decoded is UNDEFINED
    else:
        assert normalise(decoded, drop_undefined=True) == expected


@settings(max_examples=300, deadline=None)
@given(values)
def test_devalue_round_trip(value: object) -> None:
    decoded = devalue.parse(devalue.stringify(value))
    assert normalise(decoded, drop_undefined=False) == normalise(value, drop_undefined=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=5) | st.integers(0, 3), max_size=12))
def test_devalue_pool_never_repeats_a_primitive(items: list) -> None:
    pool = json.loads(devalue.stringify(items))
    primitives = [json.dumps(entry) for entry in pool[1:] if not isinstance(entry, list | dict)]
    assert len(primitives) == len(set(primitives))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("a.\\b"), max_size=6), min_size=1, max_size=4))
def test_superjson_paths_round_trip(segments: list[str]) -> None:
    assert superjson.parse_path(superjson.stringify_path(segments)) == segments


def test_iso_dates_match_javascript() -> None:
    assert iso_date(AUG_31) == "2024-08-31T01:11:47.021Z"
    later = AUG_31.astimezone(UTC) + timedelta(microseconds=999)
    assert iso_date(later) == "2024-08-31T01:11:47.021Z"
