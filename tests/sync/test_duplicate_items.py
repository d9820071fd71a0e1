"""An image a listing shows twice, on one page or on two, is fetched, downloaded, written once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests.proof.servers import HostileServer, rewriting_proxy

from civitai_emulator import EmulatorConfig, running_emulator

PAGE = 10


def _repeat_items() -> Any:
    """Every page gets its first item again, and the previous page's last item.

    Both go at the end of the page, so superjson's annotations (`items.3.createdAt`)
    still point at the items they were written for.
    """
    previous: list[Any] = []

    def rewrite(procedure: str, data: Any) -> None:
        if procedure != "image.getInfinite" or not data["items"]:
            return
        items = data["items"]
        last = items[-1]
        data["items"] = [*items, dict(items[0]), *previous]
        previous[:] = [dict(last)]

    return rewrite


def test_repeated_items_cost_what_a_clean_listing_costs(tmp_path, sync, archive_snapshot):
    config = EmulatorConfig(seed=21, images=60, site_mode="red", devalue_share=0.0)
    with running_emulator(config) as emu:
        target = [f"collection:{emu.dataset.named['demo_collection']}"]
        clean = sync(tmp_path / "clean", emu, target, page_size=PAGE)
        costs_clean = _costs(emu)
        emu.request_log.clear()
        with HostileServer(rewriting_proxy(emu, _repeat_items())) as proxy:
            via_proxy = SimpleNamespace(
                base_url=proxy.url, image_base_url=emu.image_base_url, api_key=emu.api_key
            )
            repeated = sync(tmp_path / "repeated", via_proxy, target, page_size=PAGE)
        costs_repeated = _costs(emu)
    (clean_target,), (repeated_target,) = clean["targets"], repeated["targets"]
    assert clean_target["listed"] > 2 * PAGE  # several pages, so repeats cross pages
    assert repeated_target["listed"] == clean_target["listed"]
    assert repeated_target["new"] == clean_target["new"]
    assert repeated_target["failed"] == 0 and repeated_target["complete"]
    assert costs_repeated == costs_clean
    assert archive_snapshot(tmp_path / "repeated") == archive_snapshot(tmp_path / "clean")


def _costs(emu: Any) -> dict[str, int]:
    """Requests per procedure (the listing aside) and to the CDN."""
    costs = {"cdn": emu.count(listener="cdn")}
    for procedure in ("image.getGenerationData", "tag.getVotableTags", "post.get"):
        costs[procedure] = emu.count(procedure=procedure)
    return costs
