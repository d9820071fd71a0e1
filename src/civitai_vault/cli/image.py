"""`image`: one image fully analysed, straight from Civitai."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from civitai_vault.cli.core import command, console, print_json
from civitai_vault.cli.options import Connection, Output


@command("image")
def image_command(
    target: Annotated[str, typer.Argument(help="An image id or its civitai.com URL.")],
    *,
    output: Output,
    connection: Connection,
) -> None:
    """One image fully analysed: info, checkpoint, LoRAs, embeddings, tags, prompts, models."""
    import asyncio

    from civitai_vault.api import CivitaiClient
    from civitai_vault.api.image_analysis import fetch_image_analysis
    from civitai_vault.api.settings import SITE_URLS
    from civitai_vault.api.targets import parse_target
    from civitai_vault.errors import UsageError
    from civitai_vault.render import print_image

    parsed = parse_target(target)
    if parsed.kind != "image" or parsed.id is None:
        raise UsageError(f"{target!r} is not an image: give an image id or /images/N URL")
    image_id = parsed.id
    settings = connection.settings(targets=[parsed])

    async def analyse() -> Any:
        async with CivitaiClient(settings.client_settings()) as client:
            return await fetch_image_analysis(client, image_id)

    image = asyncio.run(analyse())
    if output.json:
        print_json(image.to_record())
    else:
        print_image(console, image, site_url=SITE_URLS[settings.site])
