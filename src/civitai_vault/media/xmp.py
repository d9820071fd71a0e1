"""Tags as XMP, the one place photo tools (digiKam, Lightroom, exiftool, Windows) look.

`dc:subject` holds the plain Civitai tags (exiftool's `Subject`); `digiKam:TagsList`
holds hierarchical paths: `Civitai/tag/<tag>`, `Civitai/model/<checkpoint>`,
`Civitai/lora/<name>`, `Civitai/embedding/<name>` and `Civitai/user/<author>`.
A `/` inside a name would add a hierarchy level, so it becomes `∕` (U+2215) there.

Packets we write carry `x:xmptk="civitai-vault"`, so a later run may replace
its own packet but only ever adds to somebody else's (`merge_xmp`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

TOOLKIT = "civitai-vault"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_DIGIKAM = "http://www.digikam.org/ns/1.0/"

# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_RDF_END = re.compile(rb"</(?:[\w.-]+:)?RDF\s*>")


def build_xmp(record: dict[str, Any]) -> bytes:
    """A complete XMP packet for the record's tags; b"" when there is nothing to say."""
    properties = _properties(record, subject=True, tags_list=True)
    if not properties:
        return b""
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="{TOOLKIT}">\n'
        f' <rdf:RDF xmlns:rdf="{NS_RDF}">\n'
        f"{_description(properties)}"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


def merge_xmp(existing: bytes, record: dict[str, Any]) -> bytes:
    """The packet to store when a file already has `existing` XMP.

    Our own packet is simply rebuilt. Anyone else's is kept byte for byte, with
    `dc:subject` / `digiKam:TagsList` added in a separate rdf:Description only
    where the packet has none; a packet we cannot parse is left alone.
    """
    if _is_ours(existing):
        return build_xmp(record) or existing
    try:
        root = ET.fromstring(existing)
    except (ET.ParseError, ValueError):
        return existing
    has_subject = root.find(f".//{{{NS_DC}}}subject") is not None
    has_tags_list = root.find(f".//{{{NS_DIGIKAM}}}TagsList") is not None
    properties = _properties(record, subject=not has_subject, tags_list=not has_tags_list)
    ends = list(_RDF_END.finditer(existing))
    if not properties or not ends:
        return existing
    at = ends[-1].start()
    addition = _description(properties, declare_rdf=True).encode("utf-8")
    return existing[:at] + addition + existing[at:]


def tag_paths(record: dict[str, Any]) -> list[str]:
    """The digiKam hierarchy for a record, in a stable order, without duplicates."""
    paths = [f"Civitai/tag/{_level(tag)}" for tag in _names(record.get("tags"))]
    if record.get("model"):
        paths.append(f"Civitai/model/{_level(record['model'])}")
    for kind, key in (("lora", "loras"), ("embedding", "embeddings")):
        names = [item.get("name") for item in record.get(key) or [] if isinstance(item, dict)]
        paths.extend(f"Civitai/{kind}/{_level(name)}" for name in _names(names))
    if record.get("author"):
        paths.append(f"Civitai/user/{_level(record['author'])}")
    return _unique(paths)


def _properties(record: dict[str, Any], *, subject: bool, tags_list: bool) -> str:
    parts = []
    subjects = _unique(_names(record.get("tags"))) if subject else []
    if subjects:
        parts.append(_array("dc:subject", "rdf:Bag", subjects))
    paths = tag_paths(record) if tags_list else []
    if paths:
        parts.append(_array("digiKam:TagsList", "rdf:Seq", paths))
    return "".join(parts)


def _description(properties: str, *, declare_rdf: bool = False) -> str:
    rdf = f' xmlns:rdf="{NS_RDF}"' if declare_rdf else ""
    return (
        f'  <rdf:Description rdf:about=""{rdf}\n'
        f'    xmlns:dc="{NS_DC}"\n'
        f'    xmlns:digiKam="{NS_DIGIKAM}">\n'
        f"{properties}"
        "  </rdf:Description>\n"
    )


def _array(name: str, kind: str, items: list[str]) -> str:
    entries = "".join(f"     <rdf:li>{_xml_text(item)}</rdf:li>\n" for item in items)
    return f"   <{name}>\n    <{kind}>\n{entries}    </{kind}>\n   </{name}>\n"


def _xml_text(text: str) -> str:
    return escape(_NOT_XML.sub("", text), {'"': "&quot;", "'": "&apos;"})


def _names(values: Any) -> list[str]:
    """Non-empty names on one line each (a tag is a single line in every tool)."""
    names = []
    for value in values or []:
        if isinstance(value, str):
            name = " ".join(_NOT_XML.sub("", value).split())
            if name:
                names.append(name)
    return names


def _level(name: str) -> str:
    return " ".join(name.split()).replace("/", "\u2215")


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _is_ours(packet: bytes) -> bool:
    return re.search(rb'x:xmptk=["\']' + TOOLKIT.encode() + rb'["\']', packet[:512]) is not None


def packet_for(existing: bytes | None, record: dict[str, Any]) -> bytes | None:
    """What a file's XMP should be: ours if it has none, else `existing` merged; None if none."""
    if existing is None:
        return build_xmp(record) or None
    return merge_xmp(existing, record)
