"""The generation text real uploads carry inside their files, written from a record's meta.

- A1111 "infotext" (PNG `parameters`, JPEG/WebP EXIF UserComment): the prompt, a
  `Negative prompt:` line, then one `Key: value, ...` parameter line; values holding
  `,`, `:` or a newline are JSON-quoted. Images made on Civitai add `Created Date`,
  `Civitai resources` and `Civitai metadata` to that line.
- ComfyUI (PNG `prompt` and `workflow`): the API graph and a matching UI graph.
"""

from __future__ import annotations

import json
from typing import Any

from civitai_emulator.dataset import Dataset, ImageRecord


def _quote(value: Any) -> str:
    text = str(value)
    if any(mark in text for mark in (",", ":", "\n")):
        return json.dumps(text, ensure_ascii=False)
    return text


def a1111_infotext(dataset: Dataset, record: ImageRecord) -> str | None:
    meta = record.meta
    if not meta:
        return None
    lines = [meta.get("prompt", "")]
    if meta.get("negativePrompt"):
        lines.append(f"Negative prompt: {meta['negativePrompt']}")
    params: list[tuple[str, Any]] = [
        ("Steps", meta.get("steps")),
        ("Sampler", meta.get("sampler")),
        ("CFG scale", meta.get("cfgScale")),
        ("Seed", meta.get("seed")),
        ("Size", meta.get("Size") or f"{record.width}x{record.height}"),
        ("Model hash", meta.get("Model hash")),
        ("Model", meta.get("Model")),
        ("Denoising strength", meta.get("Denoising strength")),
        ("Clip skip", meta.get("clipSkip") if (meta.get("clipSkip") or 1) > 1 else None),
        ("Hires upscale", meta.get("Hires upscale")),
        ("Hires upscaler", meta.get("Hires upscaler")),
        ("Lora hashes", _lora_hashes(meta)),
        ("Version", meta.get("Version")),
    ]
    if "civitaiResources" in meta:
        params.append(("Created Date", meta.get("Created Date")))
    # Civitai writes its Created Date bare, although it holds colons.
    line = ", ".join(
        f"{key}: {value if key == 'Created Date' else _quote(value)}"
        for key, value in params
        if value is not None
    )
    if "civitaiResources" in meta:
        resources = _civitai_resources(dataset, meta["civitaiResources"])
        line += f", Civitai resources: {json.dumps(resources, separators=(',', ':'))}"
        settings = {"workflow": meta.get("workflow"), "baseModel": meta.get("baseModel")}
        line += f", Civitai metadata: {json.dumps(settings, separators=(',', ':'))}"
    lines.append(line)
    return "\n".join(lines).strip()


def _lora_hashes(meta: dict[str, Any]) -> str | None:
    hashes = meta.get("hashes") or {}
    pairs = [f"{key[5:]}: {value}" for key, value in hashes.items() if key.startswith("lora:")]
    return ", ".join(pairs) or None


def _civitai_resources(dataset: Dataset, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for entry in entries:
        version = dataset.model_versions.get(entry.get("modelVersionId", -1))
        item = dict(entry)
        if version is not None:
            item["modelName"] = version.model_name
        out.append(item)
    return out


def comfy_graphs(record: ImageRecord) -> tuple[str, str]:
    """(`prompt` API graph JSON, `workflow` UI graph JSON) for a ComfyUI PNG."""
    meta = record.meta or {}
    width, height = (
        int(part) for part in str(meta.get("Size", f"{record.width}x{record.height}")).split("x")
    )
    checkpoint = f"{meta.get('Model', 'model')}.safetensors"
    nodes: dict[str, dict[str, Any]] = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": width, "height": height, "batch_size": 1},
        },
        "6": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": meta.get("prompt", ""), "clip": ["4", 1]},
        },
        "7": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": meta.get("negativePrompt", ""), "clip": ["4", 1]},
        },
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": meta.get("seed", 0),
                "steps": meta.get("steps", 20),
                "cfg": meta.get("cfgScale", 7),
                "sampler_name": "euler_ancestral",
                "scheduler": "karras",
                "denoise": 1,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {
            "class_type": "SaveImage",
            "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]},
        },
    }
    workflow_nodes = [
        {
            "id": int(node_id),
            "type": node["class_type"],
            "pos": [int(node_id) * 220, 100],
            "size": [320, 180],
            "flags": {},
            "order": position,
            "mode": 0,
            "widgets_values": [v for v in node["inputs"].values() if not isinstance(v, list)],
        }
        for position, (node_id, node) in enumerate(nodes.items())
    ]
    workflow = {
        "last_node_id": 9,
        "last_link_id": 9,
        "nodes": workflow_nodes,
        "links": [],
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
        "version": 0.4,
    }
    return json.dumps(nodes), json.dumps(workflow)
