"""Hostile input everywhere Civitai's or the user's text comes in: no crash, only clear errors.

- the wire: any response body decodes to a value or raises a CivitaiError (for a
  200, MalformedResponse); the codecs raise only CodecError;
- targets: any text parses or raises ValueError with a one-line message;
- every procedure's model reads any JSON shape; the sync normalizer turns any
  such objects into rows, or refuses one image with a one-line ValueError;
- the A1111 text reads back what was written, for any text;
- embedding any record into a PNG, JPEG, WebP or GIF leaves its pixels alone.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import string
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageSequence

from civitai_vault.api import MalformedResponse, models
from civitai_vault.api.codec import CodecError, decode_devalue, decode_superjson
from civitai_vault.api.errors import CivitaiError, LimitExceeded
from civitai_vault.api.targets import parse_target
from civitai_vault.api.wire import RawResponse, decode_response
from civitai_vault.media.embed import embed_metadata
from civitai_vault.media.infotext import build_infotext, parse_infotext
from civitai_vault.media.verify import verify_file
from civitai_vault.records import EXPORT_FIELDS, empty_record
from civitai_vault.sources import SOURCES
from civitai_vault.sync import normalize

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- generated JSON

# Text that exercises quoting and parsing: separators, quotes, escapes, markup, emoji.
TRICKY = ",:\n\r\t\"\\{}[]<>/.&;=%$#@!?*|~`'\x00\x1b\u2028\u202e\ufeff🦊狐 "
texts = st.text(alphabet=st.sampled_from(TRICKY) | st.characters(codec="utf-8"), max_size=40)
numbers = (
    st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, -1, 2**53 + 1, 1e308, -0.0])
)
dates = st.datetimes(min_value=datetime(1, 1, 2), timezones=st.just(UTC)).map(
    lambda d: d.isoformat()
)
scalars = st.none() | st.booleans() | numbers | texts | dates
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            texts | st.sampled_from(["id", "json", "meta", "values"]), children, max_size=5
        )
    ),
    max_leaves=25,
)


def _finite(value: Any) -> Any:
    """JSON as a server can send it: no NaN or infinities (json.dumps would write them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


# ---------------------------------------------------------------- the wire


@FUZZ
@given(json_values)
def test_superjson_decoder_takes_any_json(value: Any) -> None:
    for envelope in (value, {"json": value, "meta": {"values": value}}, {"json": value}):
        with contextlib.suppress(CodecError):
            decode_superjson(envelope)


superjson_annotations = st.recursive(
    st.sampled_from(["Date", "undefined", "bigint", "set", "map", "regexp", "URL", "Error"])
    | st.lists(st.sampled_from(["class", "symbol", "custom", "Date", "map"]) | texts, max_size=3),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(texts | st.sampled_from(["0", "a", "a.b", "0.1", "\\."]), children)
    ),
    max_leaves=10,
)


@FUZZ
@given(json_values, superjson_annotations)
def test_superjson_decoder_takes_any_annotation(value: Any, annotations: Any) -> None:
    with contextlib.suppress(CodecError):
        decode_superjson({"json": value, "meta": {"values": annotations}})


devalue_pools = st.lists(
    st.integers(min_value=-10, max_value=10)
    | texts
    | st.lists(
        st.sampled_from(["Date", "Set", "Map", "BigInt", "RegExp", "Object", "null", "Nope"])
        | st.integers(min_value=-8, max_value=8)
        | texts,
        max_size=5,
    )
    | st.dictionaries(texts, st.integers(min_value=-8, max_value=8), max_size=4)
    | st.none()
    | st.booleans(),
    max_size=8,
)


@FUZZ
@given(st.one_of(texts, devalue_pools.map(json.dumps), json_values.map(json.dumps)))
def test_devalue_decoder_takes_any_string(text: str) -> None:
    with contextlib.suppress(CodecError):
        decode_devalue(text)


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(_finite(v)).encode()),
    json_values.map(lambda v: json.dumps({"result": {"data": _finite(v)}}).encode()),
    st.tuples(json_values, superjson_annotations).map(
        lambda p: json.dumps(
            {"result": {"data": {"json": _finite(p[0]), "meta": {"values": _finite(p[1])}}}}
        ).encode()
    ),
    devalue_pools.map(lambda pool: json.dumps({"result": {"data": json.dumps(pool)}}).encode()),
    json_values.map(lambda v: json.dumps({"error": _finite(v)}).encode()),
)


@FUZZ
@given(bodies, st.sampled_from([200, 201, 204, 301, 400, 401, 404, 429, 500, 502, 503]))
def test_any_response_body_is_a_value_or_one_clear_error(body: bytes, status: int) -> None:
    raw = RawResponse("image.get", status, "application/json", body)
    try:
        decode_response(raw)
    except (MalformedResponse, LimitExceeded) as exc:
        # A limit (a devalue reference cycle reads as endless nesting) is one clear line too.
        assert "\n" not in str(exc)
    except CivitaiError as exc:
        # Only a body that says "error" (or a failing status) may be some other error.
        assert status >= 300 or b'"error"' in body, (status, body)
        assert "\n" not in str(exc)


# ---------------------------------------------------------------- targets

urlish = st.builds(
    lambda scheme, host, path, tail: f"{scheme}{host}{path}{tail}",
    st.sampled_from(["", "https://", "http://", "ftp://", "//", "https:///", "HTTPS://"]),
    st.sampled_from(["civitai.com", "www.civitai.red", "civitai.com:99999", "[::1]", "évil.com",
                     "civitai.com.evil.com", "civitai.com@evil.com", "", "CIVITAI.COM"]),
    st.sampled_from(["/collections/", "/images/", "/posts/", "/user/", "/models/", "//images/"]),
    texts | st.integers().map(str) | st.sampled_from(["1/x", "%2e%2e", "12?x=1", "a/images"]),
)  # fmt: skip


@FUZZ
@given(st.one_of(texts, urlish, st.text(alphabet=string.printable, max_size=60)))
def test_any_target_text_parses_or_says_why_in_one_line(text: str) -> None:
    try:
        target = parse_target(text)
    except ValueError as exc:
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message
        assert len(message) < 400
        return
    assert target.kind in SOURCES  # a declared source, never a made-up kind
    assert target.id is None or 0 < target.id < 2**53


# ---------------------------------------------------------------- models and normalizer

MODELS = [
    cls
    for cls in vars(models).values()
    if isinstance(cls, type)
    and issubclass(cls, models.CivitaiModel)
    and cls is not models.CivitaiModel
]


def shaped_like(cls: type[models.CivitaiModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the model's own keys (camelCase, as on the wire) holding anything."""
    keys = sorted({field.alias or name for name, field in cls.model_fields.items()})
    return st.dictionaries(st.sampled_from(keys) | texts, json_values, max_size=12)


@FUZZ
@given(st.sampled_from(MODELS).flatmap(lambda cls: st.tuples(st.just(cls), shaped_like(cls))))
def test_every_model_reads_any_json_shape(case: tuple[type, dict[str, Any]]) -> None:
    cls, data = case
    model = cls.model_validate(data)
    assert model.raw is data
    json.dumps(model.model_dump(mode="json"), allow_nan=True)  # what it holds can be saved


def listing_items() -> st.SearchStrategy[models.ImageListItem]:
    base = st.fixed_dictionaries(
        {"id": st.integers(min_value=1, max_value=2**53 - 1)},
        optional={
            "url": st.uuids().map(str) | texts,
            "name": texts,
            "type": st.sampled_from(["image", "video", "audio"]) | texts,
        },
    )
    return st.tuples(base, shaped_like(models.ImageListItem)).map(
        lambda pair: models.ImageListItem.model_validate({**pair[1], **pair[0]})
    )


resource_entry = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["checkpoint", "lora", "embed", "lycoris", "vae"]) | texts,
        "weight": numbers | texts,
        "modelVersionId": numbers | texts,
        "modelVersionName": texts,
        "modelName": texts,
        "name": texts,
        "hash": texts,
    },
)
generation_data = st.fixed_dictionaries(
    {},
    optional={
        "meta": st.fixed_dictionaries(
            {},
            optional={
                "prompt": texts, "negativePrompt": texts, "seed": numbers, "steps": numbers,
                "cfgScale": numbers, "sampler": texts, "Model": texts, "clipSkip": numbers,
                "civitaiResources": st.lists(resource_entry, max_size=4) | json_values,
                "resources": st.lists(resource_entry, max_size=4) | json_values,
                "hashes": st.dictionaries(texts, texts) | json_values,
            },
        ) | json_values,
        "resources": st.lists(shaped_like(models.Resource), max_size=4) | json_values,
        "process": texts, "type": texts, "engine": texts,
    },
).map(lambda data: models.GenerationData.model_validate(_finite(data)))  # fmt: skip


@FUZZ
@given(
    listing_items(),
    generation_data,
    st.lists(shaped_like(models.VotableTag).map(models.VotableTag.model_validate), max_size=5),
)
def test_the_sync_normalizer_takes_any_objects(item: Any, generation: Any, tags: Any) -> None:
    base = "https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA"
    try:
        record = normalize.listing_record(item, base)
        image = normalize.build_image(item, generation, tags, base)
    except ValueError as exc:  # one image refused, with a reason a person can read
        assert str(exc) and "\n" not in str(exc)
        return
    for built in (record, image.record):
        assert tuple(built) == EXPORT_FIELDS
        json.dumps(built, allow_nan=True)
    assert image.record["image_id"] == item.id
    assert all(tag.name for tag in image.tags)
    normalize.version_ids(generation)


@FUZZ
@given(shaped_like(models.Post), shaped_like(models.ModelVersion))
def test_post_and_version_rows_from_any_shape(post: dict, version: dict) -> None:
    row = normalize.post_row(models.Post.model_validate(post))
    assert set(row) == {"user_id", "title", "published_at", "nsfw_level", "raw"}
    version_model = models.ModelVersion.model_validate(version)
    if version_model.id is not None:
        normalize.version_row(version_model)


# ---------------------------------------------------------------- the A1111 text


def no_negative_line(text: str) -> bool:
    return not any(line.startswith("Negative prompt:") for line in text.split("\n"))


prompts = texts.filter(lambda t: t.strip() and no_negative_line(t)).map(str.lstrip)
values = texts.map(str.strip).filter(bool)


@FUZZ
@given(
    prompt=prompts,
    negative=st.none() | prompts,
    sampler=values,
    model=values,
    seed=st.integers(min_value=0, max_value=2**64),
    cfg=st.floats(min_value=0, max_value=100, allow_nan=False),
    lora=values,
    meta=st.dictionaries(
        st.sampled_from(["Hires upscaler", "Schedule type", "VAE", "Eta"]), values
    ),
)
def test_the_a1111_text_reads_back_what_was_written(
    prompt, negative, sampler, model, seed, cfg, lora, meta
):
    record = empty_record()
    record.update(
        image_id=1, prompt=prompt, negative_prompt=negative, sampler=sampler, model=model,
        seed=seed, cfg_scale=cfg, steps=30, raw_meta_json=json.dumps(meta),
        loras=[{"name": lora, "weight": 0.8, "model_version_id": 7, "version_name": lora}],
    )  # fmt: skip
    text = build_infotext(record)
    assert text is not None
    parsed = parse_infotext(text)
    assert parsed["prompt"] == prompt
    assert parsed["negative_prompt"] == (negative or None)
    params = parsed["params"]
    assert (params["Sampler"], params["Model"]) == (sampler, model)
    assert (int(params["Seed"]), float(params["CFG scale"])) == (seed, cfg)
    assert {key: params[key] for key in meta} == meta
    assert params["Civitai resources"][1]["modelName"] == lora


# ---------------------------------------------------------------- pixels survive embedding


def _picture(kind: str) -> bytes:
    image = Image.new("RGB", (23, 17))
    image.putdata(
        [((x * 11) % 256, (y * 29) % 256, (x * y) % 256) for y in range(17) for x in range(23)]
    )
    out = io.BytesIO()
    if kind == "gif":
        frames = [image.convert("P"), image.rotate(90).convert("P")]
        frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=50)
    elif kind == "png-rgba":
        image.convert("RGBA").save(out, "PNG")
    else:
        fmt = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "webp-lossless": "WEBP"}[kind]
        extra = {"lossless": True} if kind == "webp-lossless" else {}
        image.save(out, fmt, **extra)
    return out.getvalue()


KINDS = ["png", "png-rgba", "jpeg", "webp", "webp-lossless", "gif"]
PICTURES = {kind: _picture(kind) for kind in KINDS}


def _pixels(data: bytes) -> list[bytes]:
    with Image.open(io.BytesIO(data)) as image:
        return [frame.convert("RGBA").tobytes() for frame in ImageSequence.Iterator(image)]


records = st.fixed_dictionaries(
    {"image_id": st.integers(min_value=1, max_value=2**53)},
    optional={
        name: texts | st.text(min_size=3000, max_size=40000, alphabet='狐🦊a,:\n"')
        for name in ("prompt", "negative_prompt", "sampler", "model", "author", "name")
    }
    | {
        "raw_meta_json": json_values.map(lambda v: json.dumps(_finite(v))) | texts,
        "seed": numbers,
        "steps": numbers | texts,
        "cfg_scale": numbers,
        "tags": st.lists(texts, max_size=5),
        "loras": st.lists(st.fixed_dictionaries({"name": texts, "weight": numbers}), max_size=3),
    },
).map(lambda fields: {**empty_record(), **_finite(fields)})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), record=records)
def test_embedding_any_record_never_touches_the_pixels(kind: str, record: dict) -> None:
    original = PICTURES[kind]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "image.part"
        path.write_bytes(original)
        result = embed_metadata(path, record)
        embedded = path.read_bytes()
        assert verify_file(path, None).kind == "image"
    assert _pixels(embedded) == _pixels(original)
    assert result.size == len(embedded)
    text = build_infotext(record)
    if result.changed and text and kind.startswith("png"):
        with Image.open(io.BytesIO(embedded)) as image:
            # PNG text cannot hold NUL; the writer leaves it out, as Pillow would.
            assert image.info.get("parameters") == text.replace("\x00", "")


@pytest.mark.parametrize("kind", KINDS)
def test_embedding_twice_changes_nothing_more(kind: str, tmp_path: Path) -> None:
    record = {**empty_record(), "image_id": 5, "prompt": "a fox, 狐\n<b>x</b>", "seed": 2**63}
    path = tmp_path / "image.part"
    path.write_bytes(PICTURES[kind])
    embed_metadata(path, record)
    once = path.read_bytes()
    assert embed_metadata(path, record).changed is False
    assert path.read_bytes() == once
