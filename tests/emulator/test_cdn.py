"""The image CDN serves real files of the right size and kind, with what real uploads carry."""

from __future__ import annotations

import concurrent.futures
import io
import json
import struct
import threading
import zlib
from typing import Any

import av
import httpx
import piexif
import pytest
from PIL import Image
from sd_parsers import ParserManager


def fetch(
    emu: Any, uuid: str, params: str = "original=true", name: str = "file.jpeg"
) -> httpx.Response:
    return httpx.get(f"{emu.image_base_url}/{uuid}/{params}/{name}", timeout=30)


def record(emu: Any, role: str) -> Any:
    return emu.dataset.images[emu.dataset.named[role]]


def decode(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def mp4_boxes(data: bytes) -> list[tuple[str, int]]:
    """Top-level MP4 boxes (type, size); fails on a box that overruns the file."""
    boxes, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        assert size >= 8 and offset + size <= len(data), "box overruns the file"
        boxes.append((kind.decode("latin-1"), size))
        offset += size
    return boxes


def test_a1111_png_carries_its_parameters(emu) -> None:
    image = record(emu, "a1111_png_image")
    response = fetch(emu, image.uuid)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    picture = decode(response.content)
    assert picture.format == "PNG" and picture.size == (image.width, image.height)
    text = picture.info["parameters"]
    assert text.startswith(image.meta["prompt"])
    assert f"Seed: {image.meta['seed']}" in text and f"Steps: {image.meta['steps']}" in text
    assert 5_000 < len(response.content) < 200_000


def test_comfy_png_carries_prompt_and_workflow_graphs(emu) -> None:
    image = record(emu, "comfy_png_image")
    picture = decode(fetch(emu, image.uuid).content)
    prompt = json.loads(picture.info["prompt"])
    workflow = json.loads(picture.info["workflow"])
    assert {node["class_type"] for node in prompt.values()} >= {
        "KSampler",
        "CheckpointLoaderSimple",
    }
    sampler = next(node for node in prompt.values() if node["class_type"] == "KSampler")
    assert sampler["inputs"]["seed"] == image.meta["seed"]
    assert workflow["nodes"] and "parameters" not in picture.info


def test_exif_jpeg_has_a_unicode_user_comment(emu) -> None:
    image = record(emu, "exif_jpeg_image")
    response = fetch(emu, image.uuid)
    assert response.headers["content-type"] == "image/jpeg"
    picture = decode(response.content)
    assert picture.size == (image.width, image.height)
    exif = piexif.load(picture.info["exif"])
    comment = exif["Exif"][piexif.ExifIFD.UserComment]
    assert comment.startswith(b"UNICODE\0")
    assert comment[8:].decode("utf-16-be").startswith(image.meta["prompt"])
    assert picture.info["exif"][6:8] == b"MM"  # big-endian, as piexif writes it


def test_hostile_text_survives_inside_the_file(emu) -> None:
    image = record(emu, "hostile_image")
    picture = decode(fetch(emu, image.uuid).content)
    text = picture.info.get("parameters")
    assert text is not None and "<script>alert(1)</script>" in text and "🦊" in text


def test_images_without_metadata_carry_none(emu) -> None:
    image = record(emu, "no_meta_image")
    picture = decode(fetch(emu, image.uuid).content)
    assert (
        picture.format == "JPEG" and "exif" not in picture.info and "parameters" not in picture.info
    )


def test_every_format_decodes_at_its_size_and_bytes_are_unique(emu) -> None:
    seen: dict[str, Any] = {}
    for image_id in emu.dataset.image_ids:
        image = emu.dataset.images[image_id]
        if image.type == "image" and image.mime_type not in seen:
            seen[image.mime_type] = image
    # TIFF originals exist (the seed lists image/tiff) and are served as TIFF
    assert set(seen) == {"image/png", "image/jpeg", "image/webp", "image/tiff"}
    bodies = set()
    for mime, image in seen.items():
        response = fetch(emu, image.uuid)
        assert response.headers["content-type"] == mime
        assert decode(response.content).size == (image.width, image.height)
        bodies.add(response.content)
    same_size = [
        emu.dataset.images[i]
        for i in emu.dataset.image_ids
        if emu.dataset.images[i].mime_type == "image/png"
    ]
    first, second = next(
        (a, b)
        for a in same_size
        for b in same_size
        if a.id != b.id and (a.width, a.height) == (b.width, b.height)
    )
    pixels_a = decode(fetch(emu, first.uuid).content).tobytes()
    pixels_b = decode(fetch(emu, second.uuid).content).tobytes()
    assert pixels_a != pixels_b


def test_width_gives_a_smaller_jpeg(emu) -> None:
    image = record(emu, "a1111_png_image")
    response = fetch(emu, image.uuid, "width=450,optimized=true")
    picture = decode(response.content)
    assert response.headers["content-type"] == "image/jpeg"
    assert picture.width == min(450, image.width)
    assert abs(picture.height - round(image.height * picture.width / image.width)) <= 1


def test_video_needs_transcode_or_quality_100(emu) -> None:
    video = record(emu, "video_image")
    for params in ("transcode=true,original=true", "original=true,quality=100"):
        response = fetch(emu, video.uuid, params, "clip.mp4")
        assert response.headers["content-type"] == "video/mp4"
        boxes = [kind for kind, _ in mp4_boxes(response.content)]
        assert boxes[0] == "ftyp" and "moov" in boxes and "mdat" in boxes
        with av.open(io.BytesIO(response.content)) as container:
            stream = container.streams.video[0]
            frames = list(container.decode(stream))
        assert len(frames) > 1
        assert (frames[0].width, frames[0].height) == (video.width, video.height)
    # The gotcha: what naive archivers ask for gives a still picture.
    for params in ("original=true", "anim=false,transcode=true", "width=450"):
        response = fetch(emu, video.uuid, params, "clip.mp4")
        assert response.headers["content-type"] == "image/webp", params
        assert decode(response.content).width <= video.width


def test_each_video_copy_is_unique(emu) -> None:
    videos = [
        emu.dataset.images[i] for i in emu.dataset.image_ids if emu.dataset.type_of(i) == "video"
    ]
    first, second = videos[0], videos[1]
    a = fetch(emu, first.uuid, "transcode=true").content
    b = fetch(emu, second.uuid, "transcode=true").content
    assert a != b
    assert mp4_boxes(a)[-1][0] == "free"


def test_video_poster_from_thumbnail_url(api, emu) -> None:
    video = record(emu, "video_image")
    page = api.call("image.getInfinite", {"imageId": video.id})
    poster = page.data["items"][0]["thumbnailUrl"]
    response = fetch(emu, poster, "width=450")
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/")


def test_unknown_uuids_and_keys_are_404(emu) -> None:
    image = record(emu, "a1111_png_image")
    assert fetch(emu, "00000000-0000-4000-8000-000000000000").status_code == 404
    cdn_root = emu.image_base_url.rsplit("/", 1)[0]
    assert (
        httpx.get(f"{cdn_root}/someOtherAccountKey/{image.uuid}/original=true/x.png").status_code
        == 404
    )


def test_backblaze_cache_url_and_head(emu) -> None:
    image = record(emu, "exif_jpeg_image")
    response = httpx.get(f"{emu.video_base_url}/{image.uuid}/original")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    # the bucket is its own host: the image CDN does not answer its paths
    cdn_root = emu.image_base_url.rsplit("/", 1)[0]
    assert (
        httpx.get(f"{cdn_root}/file/civitai-media-cache/{image.uuid}/original").status_code == 404
    )
    head = httpx.head(f"{emu.image_base_url}/{image.uuid}/original=true/x.jpeg")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(response.content)


def test_the_cdn_is_another_host_and_logs_what_it_receives(api, emu) -> None:
    api_port = httpx.URL(emu.base_url).port
    cdn_port = httpx.URL(emu.image_base_url).port
    assert api_port != cdn_port
    image = record(emu, "a1111_png_image")
    emu.clear_log()
    httpx.get(f"{emu.image_base_url}/{image.uuid}/original=true/x.png", headers={"X-Test": "yes"})
    [entry] = [e for e in emu.request_log if e.listener == "cdn"]
    assert entry.status == 200 and entry.method == "GET" and entry.procedure is None
    assert entry.headers["x-test"] == "yes" and "authorization" not in entry.headers
    assert emu.count(listener="cdn") == 1


@pytest.mark.parametrize("role", ["a1111_png_image", "exif_jpeg_image", "video_image"])
def test_same_url_same_bytes(emu, role) -> None:
    image = record(emu, role)
    params = "transcode=true" if image.type == "video" else "original=true"
    assert fetch(emu, image.uuid, params).content == fetch(emu, image.uuid, params).content


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, kind
        chunks.append((kind, body))
        offset += 12 + length
    return chunks


def test_png_structure_is_strictly_valid(emu) -> None:
    image = record(emu, "a1111_png_image")
    chunks = png_chunks(fetch(emu, image.uuid).content)
    kinds = [kind for kind, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert kinds.index(b"tEXt") < kinds.index(b"IDAT") or kinds.index(b"iTXt") < kinds.index(
        b"IDAT"
    )
    pixels = zlib.decompress(
        b"".join(body for kind, body in chunks if kind == b"IDAT")
    )  # checks adler32
    assert len(pixels) == image.height * (image.width * 3 + 1)


@pytest.mark.parametrize(
    ("role", "generator"),
    [
        ("a1111_png_image", "AUTOMATIC1111"),
        ("exif_jpeg_image", "AUTOMATIC1111"),
        ("comfy_png_image", "COMFYUI"),
        ("hostile_image", "AUTOMATIC1111"),
    ],
)
def test_prompt_readers_find_the_generation_data(emu, role, generator) -> None:
    image = record(emu, role)
    info = ParserManager().parse(decode(fetch(emu, image.uuid).content))
    assert info is not None and info.generator.name == generator
    assert info.prompts[0].value.startswith(image.meta["prompt"][:40])
    assert str(image.meta["seed"]) in str(info.samplers[0].parameters["seed"])


def test_the_cdn_answers_while_the_api_is_busy(own_emu) -> None:
    """Civitai's CDN is not its API: a file is served while an API answer is still
    being built (the CDN and video origin have a loop of their own)."""
    emu = own_emu()
    building, release = threading.Event(), threading.Event()
    endpoint = emu.state.endpoint
    real_handle = endpoint.handle

    def slow_handle(request: Any, environment: Any) -> Any:
        building.set()
        release.wait(timeout=60)  # blocks the API's loop until the file has come
        return real_handle(request, environment)

    endpoint.handle = slow_handle
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            api_answer = pool.submit(
                httpx.get, f"{emu.base_url}/api/trpc/image.getInfinite", timeout=90
            )
            assert building.wait(timeout=60)
            image = record(emu, "a1111_png_image")
            served = fetch(emu, image.uuid)
            video = emu.dataset.images[emu.dataset.named["video_image"]]
            clip = httpx.get(f"{emu.video_base_url}/{video.uuid}/original", timeout=30)
            still_building = not api_answer.done()
            release.set()
            api_answer.result()  # and the held answer still comes
    finally:
        endpoint.handle = real_handle
        release.set()
    assert served.status_code == 200 and decode(served.content).format == "PNG"
    assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"
    assert still_building  # both files came while the API answer was held back
