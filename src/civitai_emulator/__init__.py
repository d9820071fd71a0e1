"""civitai_emulator: a faithful local stand-in for civitai.com's web API and image CDN.

It shares no code with the client in `civitai_vault`: it is a second, independent
implementation of the wire format (tRPC, superjson, devalue), so each checks the
other. See `civitai_emulator.dataset` for the data it serves.

    from civitai_emulator import EmulatorConfig, Faults, running_emulator

    with running_emulator(EmulatorConfig(seed=1, images=600)) as emu:
        emu.base_url, emu.image_base_url, emu.api_key, emu.dataset.named["demo_collection"]
        emu.video_base_url, emu.generator_base_url  # the video origin, the generator's blobs

Procedures: image.get, image.getGenerationData, image.getInfinite (collections, posts,
a user's uploads, reactions, model galleries: `civitai_emulator.listing`),
post.getInfinite (`civitai_emulator.posts`), orchestrator.queryGeneratedImages
(`civitai_emulator.generations`), tag.getVotableTags, tag.getById,
modelVersion.getById, model.getSimple, post.get, collection.getById, collection.getAllUser,
collection.getInfinite, user.getCreator, and the mutations reaction.toggle and
collection.saveItem. docs/internals.md has the table of sources.
"""

from civitai_emulator.apps import EmulatorState, LoggedRequest, create_app, create_cdn_app
from civitai_emulator.config import EmulatorConfig, Faults
from civitai_emulator.dataset import Dataset
from civitai_emulator.server import Emulator, running_emulator, serve

__all__ = [
    "Dataset",
    "Emulator",
    "EmulatorConfig",
    "EmulatorState",
    "Faults",
    "LoggedRequest",
    "create_app",
    "create_cdn_app",
    "running_emulator",
    "serve",
]
