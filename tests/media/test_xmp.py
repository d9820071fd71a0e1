"""The XMP packet: well-formed whatever the tag text, and respectful of other writers' packets."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from civitai_vault.media.xmp import build_xmp, merge_xmp, packet_for

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
DC = "{http://purl.org/dc/elements/1.1/}"
DIGIKAM = "{http://www.digikam.org/ns/1.0/}"


def read(packet: bytes) -> tuple[list[str], list[str]]:
    """The dc:subject and digiKam:TagsList items, as an XMP reader sees them."""
    root = ET.fromstring(packet)
    return _items(root, f"{DC}subject"), _items(root, f"{DIGIKAM}TagsList")


def _items(root: ET.Element, tag: str) -> list[str]:
    return [li.text or "" for prop in root.iter(tag) for li in prop.iter(f"{RDF}li")]


def test_tags_model_loras_and_author(record):
    subject, tags_list = read(build_xmp(record))
    assert subject == record["tags"]
    assert tags_list[-1] == "Civitai/user/alice"
    assert "Civitai/model/PonyDiffusionV6XL" in tags_list
    assert 'Civitai/lora/detail, tweaker "x" 🌸' in tags_list


def test_markup_in_tags_is_escaped_not_interpreted():
    packet = build_xmp({"tags": ["</rdf:li><script>alert(1)</script>", "a & b"]})
    assert b"<script>" not in packet
    assert read(packet)[0] == ["</rdf:li><script>alert(1)</script>", "a & b"]


def test_characters_xml_cannot_hold_are_dropped():
    packet = build_xmp({"tags": ["bell\x07tag", "nul\x00", "\ufffe"], "author": "a\x1bb"})
    subject, tags_list = read(packet)
    assert subject == ["belltag", "nul"]
    assert tags_list == ["Civitai/tag/belltag", "Civitai/tag/nul", "Civitai/user/ab"]


def test_nothing_to_say_gives_no_packet():
    assert build_xmp({"tags": [], "author": None}) == b""
    assert packet_for(None, {"tags": []}) is None


def test_a_foreign_packet_keeps_its_bytes_and_gains_only_missing_properties():
    foreign = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements'
        b'/1.1/"><dc:subject><rdf:Bag><rdf:li>theirs</rdf:li></rdf:Bag></dc:subject>'
        b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    merged = merge_xmp(foreign, {"tags": ["ours"], "author": "bob"})
    assert merged.startswith(foreign[: foreign.index(b"</rdf:RDF>")])
    subject, tags_list = read(merged)
    assert subject == ["theirs"]
    assert tags_list == ["Civitai/tag/ours", "Civitai/user/bob"]
    assert merge_xmp(merged, {"tags": ["ours"], "author": "bob"}) == merged


def test_an_unreadable_foreign_packet_is_left_alone():
    assert merge_xmp(b"<not xml", {"tags": ["x"]}) == b"<not xml"


@given(tags=st.lists(st.text(), max_size=5), author=st.none() | st.text())
def test_every_packet_is_well_formed(tags, author):
    packet = build_xmp({"tags": tags, "author": author})
    if packet:
        ET.fromstring(packet)
