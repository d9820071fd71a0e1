"""The AUTOMATIC1111 "infotext": the text every prompt reader understands.

Layout (A1111 `create_infotext`): the prompt, then `Negative prompt: ...` if
there is one, then one parameter line of `Key: value` pairs joined by `, `.
Values holding `,`, `:` or a line break are written as JSON strings. After the
A1111 keys come Civitai's own: `Hashes: {...}`, `Created Date: ...` and
`Civitai resources: [...]`, raw JSON as Civitai writes them, so model names
survive where hashes are unknown. Values come from the export record first and
from the generation data Civitai returned (`raw_meta_json`) second.

`parse_infotext` reads such text back (A1111's rules, plus balanced JSON for
Civitai's keys); the tests and the gallery use it.
"""

from __future__ import annotations

import json
import re
from typing import Any

NEGATIVE_PREFIX = "Negative prompt:"
# Keys whose value is raw JSON (Civitai's parser decodes them the same way).
JSON_KEYS = ("Hashes", "Civitai resources", "Civitai metadata")

# Generation-data keys handled explicitly below, or that are not A1111 parameters at all.
_HANDLED_META_KEYS = frozenset(
    {
        "prompt",
        "negativePrompt",
        "steps",
        "Steps",
        "sampler",
        "Sampler",
        "Schedule type",
        "cfgScale",
        "CFG scale",
        "seed",
        "Seed",
        "Size",
        "width",
        "height",
        "Model hash",
        "Model",
        "VAE hash",
        "VAE",
        "Denoising strength",
        "clipSkip",
        "Clip skip",
        "Lora hashes",
        "TI hashes",
        "hashes",
        "Hashes",
        "Created Date",
        "Civitai resources",
        "Civitai metadata",
        "civitaiResources",
        "resources",
        "Version",
        "Negative prompt",
    }
)
# A1111 style keys ("Hires upscale", "ADetailer model 2nd"): kept when Civitai passed them on.
_A1111_KEY = re.compile(r"^[A-Z][\w \-/.()]*$")
_PARAM_KEY = re.compile(r"\s*(\w[\w \-/.()]*):\s*")


def build_infotext(record: dict[str, Any]) -> str | None:
    """The A1111 text for a record, or None when the image carries no generation data."""
    meta = raw_meta(record)
    prompt = _first_text(record.get("prompt"), meta.get("prompt"))
    negative = _first_text(record.get("negative_prompt"), meta.get("negativePrompt"))
    generation = {
        "Steps": _first(record.get("steps"), meta.get("steps"), meta.get("Steps")),
        "Sampler": _first(record.get("sampler"), meta.get("sampler"), meta.get("Sampler")),
        "CFG scale": _first(record.get("cfg_scale"), meta.get("cfgScale"), meta.get("CFG scale")),
        "Seed": _first(record.get("seed"), meta.get("seed"), meta.get("Seed")),
    }
    has_generation = any(value is not None for value in generation.values())
    if not (prompt or negative or has_generation or meta):
        return None
    params = _parameter_line(record, meta, generation)
    negative_text = f"\n{NEGATIVE_PREFIX} {negative}" if negative else ""
    return f"{prompt or ''}{negative_text}\n{params}".strip()


def raw_meta(record: dict[str, Any]) -> dict[str, Any]:
    """The generation `meta` object Civitai returned, decoded; {} when absent or unreadable."""
    raw = record.get("raw_meta_json")
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _parameter_line(
    record: dict[str, Any], meta: dict[str, Any], generation: dict[str, Any]
) -> str:
    hashes = meta["hashes"] if isinstance(meta.get("hashes"), dict) else {}
    pairs: dict[str, Any] = {
        "Steps": generation["Steps"],
        "Sampler": generation["Sampler"],
        "Schedule type": meta.get("Schedule type"),
        "CFG scale": generation["CFG scale"],
        "Seed": generation["Seed"],
        "Size": _size(record, meta),
        "Model hash": _first(meta.get("Model hash"), hashes.get("model")),
        "Model": _first(meta.get("Model"), record.get("model")),
        "VAE hash": _first(meta.get("VAE hash"), hashes.get("vae")),
        "VAE": meta.get("VAE"),
        "Denoising strength": meta.get("Denoising strength"),
        "Clip skip": _clip_skip(record, meta),
        "Lora hashes": _first(meta.get("Lora hashes"), _alias_hashes(hashes, "lora:")),
        "TI hashes": _first(meta.get("TI hashes"), _alias_hashes(hashes, "embed:")),
    }
    for key, value in meta.items():
        if key not in _HANDLED_META_KEYS and key not in pairs and _is_plain_param(key, value):
            pairs[key] = value
    pairs["Version"] = meta.get("Version")
    text = ", ".join(
        f"{key}: {quote_value(value)}" for key, value in pairs.items() if value not in (None, "")
    )
    civitai = _civitai_fields(record, meta, hashes)
    return ", ".join(part for part in (text, civitai) if part)


def _civitai_fields(record: dict[str, Any], meta: dict[str, Any], hashes: dict[str, Any]) -> str:
    fields = []
    if hashes:
        fields.append(f"Hashes: {_compact_json(hashes)}")
    created = meta.get("Created Date")
    if isinstance(created, str) and created:
        fields.append(f"Created Date: {quote_value(created)}")
    resources = civitai_resources(record) or _meta_resources(meta)
    if resources:
        fields.append(f"Civitai resources: {_compact_json(resources)}")
    return ", ".join(fields)


def civitai_resources(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Checkpoint, LoRAs and embeddings as Civitai writes them in `Civitai resources`."""
    resources: list[dict[str, Any]] = []
    if record.get("model") or record.get("model_version_id"):
        resources.append(
            _resource(
                "checkpoint",
                None,
                record.get("model_version_id"),
                record.get("model"),
                record.get("model_version"),
            )
        )
    for kind, key in (("lora", "loras"), ("embed", "embeddings")):
        for item in record.get(key) or []:
            resources.append(
                _resource(
                    kind,
                    item.get("weight"),
                    item.get("model_version_id"),
                    item.get("name"),
                    item.get("version_name"),
                )
            )
    return resources


def _resource(
    kind: str, weight: Any, version_id: Any, name: Any, version_name: Any
) -> dict[str, Any]:
    resource: dict[str, Any] = {"type": kind}
    if weight is not None:
        resource["weight"] = weight
    for key, value in (
        ("modelVersionId", version_id),
        ("modelName", name),
        ("modelVersionName", version_name),
    ):
        if value is not None:
            resource[key] = value
    return resource


def _meta_resources(meta: dict[str, Any]) -> list[dict[str, Any]]:
    found = meta.get("civitaiResources")
    if isinstance(found, list) and all(isinstance(item, dict) for item in found):
        return found
    return []


def quote_value(value: Any) -> str:
    """A parameter value as A1111 writes it: JSON-quoted when it holds `,`, `:` or a newline."""
    text = str(value)
    if any(char in text for char in ",:\n\r") or text.startswith('"'):
        return json.dumps(text, ensure_ascii=False)
    return text


def _compact_json(value: Any) -> str:
    # ASCII-only like Civitai's own output: emoji become \\uD83C\\uDF3F pairs, so the
    # parameter line survives any reader's text decoding.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _size(record: dict[str, Any], meta: dict[str, Any]) -> str | None:
    if isinstance(meta.get("Size"), str) and meta["Size"]:
        return meta["Size"]
    width = _first(meta.get("width"), record.get("width"))
    height = _first(meta.get("height"), record.get("height"))
    if width and height:
        return f"{width}x{height}"
    return None


def _clip_skip(record: dict[str, Any], meta: dict[str, Any]) -> int | None:
    """A1111 writes Clip skip only when it is more than 1 (missing means 1)."""
    value = _first(record.get("clip_skip"), meta.get("clipSkip"), meta.get("Clip skip"))
    try:
        number = int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and number > 1 else None


def _alias_hashes(hashes: dict[str, Any], prefix: str) -> str | None:
    """`Lora hashes` from Civitai's `hashes` object: {"lora:name": "abc"} -> "name: abc"."""
    items = [
        f"{key[len(prefix) :]}: {value}"
        for key, value in hashes.items()
        if isinstance(key, str) and key.startswith(prefix) and isinstance(value, str)
    ]
    return ", ".join(items) or None


def _is_plain_param(key: Any, value: Any) -> bool:
    return (
        isinstance(key, str)
        and bool(_A1111_KEY.match(key))
        and isinstance(value, str | int | float)
        and not isinstance(value, bool)
    )


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None and value != ""), None)


def _first_text(*values: Any) -> str | None:
    text = _first(*(value for value in values if isinstance(value, str)))
    return text if text and text.strip() else None


# --- reading -----------------------------------------------------------------------------


def parse_infotext(text: str) -> dict[str, Any]:
    """{"prompt", "negative_prompt", "params"} from A1111 text.

    `params` maps each key to its value as a string (JSON-quoted values unquoted);
    `Hashes`, `Civitai resources` and `Civitai metadata` are decoded JSON.
    Follows A1111: the last line is the parameter line only if it holds at least
    three `Key: value` pairs; the negative prompt runs from the first line that
    starts with `Negative prompt:` to the parameter line.
    """
    lines = text.strip().split("\n")
    params = parse_parameter_line(lines[-1]) if lines else {}
    if len(params) >= 3:
        lines = lines[:-1]
    else:
        params = {}
    prompt_lines: list[str] = []
    negative_lines: list[str] | None = None
    for line in lines:
        if negative_lines is None and line.startswith(NEGATIVE_PREFIX):
            negative_lines = [line[len(NEGATIVE_PREFIX) :].removeprefix(" ")]
        elif negative_lines is not None:
            negative_lines.append(line)
        else:
            prompt_lines.append(line)
    prompt = "\n".join(prompt_lines)
    negative = "\n".join(negative_lines) if negative_lines is not None else ""
    return {"prompt": prompt or None, "negative_prompt": negative or None, "params": params}


def parse_parameter_line(line: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    position = 0
    decoder = json.JSONDecoder()
    while position < len(line):
        match = _PARAM_KEY.match(line, position)
        if not match:
            position = _after_comma(line, position)
            continue
        key, position = match.group(1).strip(), match.end()
        value: Any
        if key in JSON_KEYS and line[position : position + 1] in ("[", "{"):
            try:
                value, position = decoder.raw_decode(line, position)
            except ValueError:
                value, position = _plain_value(line, position)
        elif line[position : position + 1] == '"':
            try:
                value, position = decoder.raw_decode(line, position)
                value = str(value)
            except ValueError:
                value, position = _plain_value(line, position)
        else:
            value, position = _plain_value(line, position)
        params[key] = value
        position = _after_comma(line, position)
    return params


def _plain_value(line: str, position: int) -> tuple[str, int]:
    end = line.find(",", position)
    end = len(line) if end < 0 else end
    return line[position:end].strip(), end


def _after_comma(line: str, position: int) -> int:
    end = line.find(",", position)
    return len(line) if end < 0 else end + 1
