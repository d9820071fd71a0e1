"""On-site generations: the signed-in user's orchestrator workflows and
`orchestrator.queryGeneratedImages` over them.

The real procedure (civitai/civitai @ ebed6616, `src/server/routers/orchestrator.router.ts`
queryGeneratedImages, `src/server/services/orchestrator/orchestration-new.service.ts`
queryGeneratedImageWorkflows2 / formatGenerationResponse2 / formatStepOutputs,
`src/server/services/orchestrator/workflows.ts` queryWorkflows) is protected (no
session: 401 UNAUTHORIZED), takes `workflowQuerySchema` = `{take=20, cursor?:string,
tags:string[]=[], ascending?, fromDate?:Date, toDate?:Date, excludeFailed?}`, asks the
orchestrator with the tags `["civitai", ...tags]` plus `"green"` on civitai.com, and
answers `{items: NormalizedWorkflow[], nextCursor: string|undefined}`.

What the emulator does with that:

- The orchestrator keeps a workflow for 30 days (`RETENTION`); older ones are gone
  from the listing, so the dataset holds some that are never listed.
- Workflows are listed newest first (`ascending: true` reverses), `take` per page;
  the cursor is an opaque string (the orchestrator's `next`), here the offset as
  text. A workflow is listed when it has every asked tag. Workflows made on
  civitai.red lack the `green` tag, so civitai.com never lists them.
- Each image's file lives on the orchestrator's blob host (`emu.generator_base_url`,
  its own listener): images at `<host>/v2/consumer/blobs/<blobId>.jpeg`, videos at
  `<host>/v2/consumer/blobs/<blobId>` to which the server appends `.mp4`, as
  formatStepOutputs does.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from civitai_emulator import vocabulary as vocab
from civitai_emulator.errors import TRPCError
from civitai_emulator.jsvalues import UNDEFINED
from civitai_emulator.models import GeneratedOutput, GenerationRecord, ResourceRef

if TYPE_CHECKING:
    from civitai_emulator.dataset import Dataset

RETENTION = timedelta(days=30)
WORKFLOW_COUNT = 48
OLDEST_AGE = timedelta(days=45)
BLOB_PREFIX = "/v2/consumer/blobs/"
URL_LIFETIME = timedelta(hours=1)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def build_generations(dataset: Dataset) -> list[GenerationRecord]:
    """The signed-in user's workflows, newest first, from their own generator."""
    rng = random.Random(f"civitai-emulator/{dataset.seed}/generations")
    checkpoints = dataset._pools.checkpoints
    loras = dataset._pools.usable_loras
    records = []
    span = int(OLDEST_AGE.total_seconds())
    ages = sorted(rng.randrange(600, span) for _ in range(WORKFLOW_COUNT))
    for number, age in enumerate(ages):
        video = rng.random() < 0.15
        base = vocab.VIDEO_BASE_MODEL if video else rng.choice([b for b, *_ in vocab.BASE_MODELS])
        refs = [ResourceRef(rng.choice(checkpoints[base]), None, "checkpoint")]
        for version_id in rng.sample(loras[base], min(rng.choice((0, 1, 2)), len(loras[base]))):
            refs.append(ResourceRef(version_id, rng.choice((0.6, 0.8, 1.0)), "lora"))
        if video:
            width, height = rng.choice(vocab.VIDEO_SIZES)
        else:
            sizes = next(s for name, _, s, _ in vocab.BASE_MODELS if name == base)
            width, height = rng.choice(sizes)
        seed = rng.getrandbits(32)
        quantity = 1 if video else rng.choice((1, 2, 4))
        status = "failed" if rng.random() < 0.08 else "succeeded"
        green = rng.random() < 0.8
        levels = ("pg", "pg13") if green else ("pg", "r", "x")
        outputs = tuple(
            GeneratedOutput(
                _blob_id(dataset.seed, number, position),
                "video" if video else "image",
                width,
                height,
                seed + position,
                rng.choice(levels),
            )
            for position in range(quantity if status == "succeeded" else 0)
        )
        params: dict[str, Any] = {
            "prompt": f"{rng.choice(vocab.SUBJECTS)}, "
            + ", ".join(rng.sample(vocab.DETAILS, rng.randrange(3, 6))),
            "negativePrompt": ", ".join(rng.sample(vocab.NEGATIVES, 2)),
            "cfgScale": rng.choice((3.5, 5, 6, 7)),
            "steps": rng.choice((20, 25, 30)),
            "sampler": rng.choice(vocab.SAMPLERS),
            "seed": seed,
            "width": width,
            "height": height,
            "quantity": quantity,
            "baseModel": base,
            "workflow": "txt2vid" if video else "txt2img",
        }
        tags = ("civitai", "gen", "vid" if video else "img") + (("green",) if green else ())
        records.append(
            GenerationRecord(
                id=f"{number % 10}-{_digits(dataset.seed, number)}",
                age_seconds=age,
                status=status,
                step_type="videoGen" if video else "textToImage",
                tags=tags,
                params=params,
                resources=tuple(refs),
                outputs=outputs,
                cost=quantity * (40 if video else 4),
                duration=rng.randrange(4, 90),
            )
        )
    return records


def _blob_id(seed: int, number: int, position: int) -> str:
    digest = hashlib.blake2b(f"blob/{seed}/{number}/{position}".encode(), digest_size=20).digest()
    return "".join(_CROCKFORD[b % 32] for b in digest)


def _digits(seed: int, number: int) -> str:
    digest = hashlib.blake2b(f"workflow/{seed}/{number}".encode(), digest_size=8).digest()
    return str(int.from_bytes(digest, "big"))[:17].rjust(17, "0")


def is_kept(record: GenerationRecord) -> bool:
    """Still on the orchestrator (younger than 30 days)."""
    return record.age_seconds < RETENTION.total_seconds()


def output_by_blob(dataset: Dataset) -> dict[str, tuple[GenerationRecord, GeneratedOutput]]:
    """Every kept output by blob id: what the blob host serves (deleted ones are 404s)."""
    return {
        output.blob_id: (record, output)
        for record in dataset.generations
        if is_kept(record)
        for output in record.outputs
    }


# ----------------------------------------------------------------- the procedure


def query_generated_images(
    dataset: Dataset,
    params: dict[str, Any],
    now: datetime,
    green: bool,
    blob_base_url: str,
) -> dict[str, Any]:
    wanted = {"civitai", *params["tags"], *(("green",) if green else ())}
    kept = [
        r
        for r in dataset.generations
        if is_kept(r)
        and wanted <= set(r.tags)
        and not (params.get("excludeFailed") and r.status == "failed")
        and _within(now - timedelta(seconds=r.age_seconds), params)
    ]
    if params.get("ascending"):
        kept.reverse()
    offset = _offset(params.get("cursor", UNDEFINED))
    take = max(int(params["take"]), 0)
    page = kept[offset : offset + take]
    more = offset + take < len(kept)
    return {
        "items": [workflow(dataset, r, now, blob_base_url) for r in page],
        "nextCursor": str(offset + take) if more else UNDEFINED,
    }


def _within(created: datetime, params: dict[str, Any]) -> bool:
    start, end = params.get("fromDate"), params.get("toDate")
    return (start is None or created >= start) and (end is None or created <= end)


def _offset(cursor: Any) -> int:
    if cursor is UNDEFINED:
        return 0
    if isinstance(cursor, str) and cursor.isdigit():
        return int(cursor)
    # the orchestrator rejects a cursor it did not issue; queryWorkflows maps its 400
    raise TRPCError("BAD_REQUEST", f"Invalid cursor: {cursor}")


def workflow(
    dataset: Dataset, record: GenerationRecord, now: datetime, blob_base_url: str
) -> dict[str, Any]:
    """One NormalizedWorkflow (formatGenerationResponse2), current format: params and
    resources on the workflow's metadata, none on the step."""
    created = now - timedelta(seconds=record.age_seconds)
    completed = created + timedelta(seconds=record.duration)
    outputs = [_output(o, now, blob_base_url) for o in record.outputs]
    step: dict[str, Any] = {
        "$type": record.step_type,
        "name": "0",
        "status": record.status,
        "timeout": "00:10:00",
        "completedAt": _iso(completed),
        "queuePosition": UNDEFINED,
        "metadata": {},
        "output": outputs,
        "images": [dict(o) for o in outputs],
        "errors": ["The generation failed. No Buzz was charged."]
        if record.status == "failed"
        else UNDEFINED,
    }
    return {
        "id": record.id,
        "status": record.status,
        "createdAt": created,
        "transactions": [],
        "cost": {"total": record.cost},
        "tags": list(record.tags),
        "allowMatureContent": "green" not in record.tags,
        "duration": record.duration,
        "metadata": {
            "params": dict(record.params),
            "resources": [_resource(dataset, ref) for ref in record.resources],
        },
        "steps": [step],
    }


def _output(output: GeneratedOutput, now: datetime, base_url: str) -> dict[str, Any]:
    blob_url = f"{base_url}{BLOB_PREFIX}{output.blob_id}"
    item: dict[str, Any] = {
        "id": output.blob_id,
        "seed": output.seed,
        "available": True,
        "urlExpiresAt": _iso(now + URL_LIFETIME),
        "nsfwLevel": output.nsfw_level,
        "blockedReason": UNDEFINED,
        "type": output.type,
        # formatStepOutputs appends ".mp4" to a video blob's url
        "url": f"{blob_url}.mp4" if output.type == "video" else f"{blob_url}.jpeg",
        "width": output.width,
        "height": output.height,
        "aspect": output.width / output.height,
    }
    if output.type == "image":
        item["previewUrl"] = UNDEFINED
        item["previewUrlExpiresAt"] = UNDEFINED
    return item


def _resource(dataset: Dataset, ref: ResourceRef) -> dict[str, Any]:
    """A GenerationResource (src/shared/types/generation.types.ts), from getResourceData."""
    version = dataset.model_versions[ref.model_version_id]
    lora = version.model_type == "LORA"
    return {
        "id": version.id,
        "name": version.name,
        "trainedWords": list(version.trained_words),
        "baseModel": version.base_model,
        "canGenerate": True,
        "hasAccess": True,
        "air": f"urn:air:{_ecosystem(version.base_model)}:{version.model_type.lower()}"
        f":civitai:{version.model_id}@{version.id}",
        "availability": "Public",
        "minStrength": -1 if lora else 1,
        "maxStrength": 2 if lora else 1,
        "strength": ref.strength if ref.strength is not None else 1,
        "model": {
            "id": version.model_id,
            "name": version.model_name,
            "type": version.model_type,
            "nsfw": version.nsfw,
            "userId": version.user_id,
        },
    }


def _ecosystem(base_model: str) -> str:
    return {"SD 1.5": "sd1", "Flux.1 D": "flux1", "Pony": "sdxl", "Illustrious": "sdxl"}.get(
        base_model, "sdxl" if "XL" in base_model else "wanvideo"
    )


def _iso(moment: datetime) -> str:
    """The orchestrator's JSON dates: ISO strings, not Date objects."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
