"""The search in the URL: parsing what forms send, and writing it back as short URLs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from civitai_vault.web.params import SearchParams


def test_blank_form_fields_do_not_filter():
    params = SearchParams.model_validate(
        {"q": "  ", "collection": "", "nsfw": ["", "4"], "author": "", "sort": "newest"}
    )
    assert params == SearchParams(nsfw=[4])
    assert not SearchParams.model_validate({"q": "", "nsfw": [""]}).is_filtered()


def test_urls_are_short_and_round_trip():
    params = SearchParams(q="red & blue", nsfw=[1, 4], base_model="SDXL 1.0", sort="oldest")
    assert params.url("/") == "/?q=red+%26+blue&base_model=SDXL+1.0&nsfw=1&nsfw=4&sort=oldest"
    assert SearchParams().url("/") == "/"
    assert params.url("/", page=3).endswith("&page=3")


def test_without_and_replace_keep_the_rest():
    params = SearchParams(q="cat", tag="anime", nsfw=[1])
    assert params.without("tag") == SearchParams(q="cat", nsfw=[1])
    assert params.without("nsfw").nsfw == []
    assert params.replace(collection="7001").collection == 7001
    # The order of the results does not change which images are counted.
    assert params.replace(sort="random", seed=5).selection_key() == params.selection_key()


def test_the_filter_means_what_export_and_stats_mean():
    f = SearchParams(
        q="cat", collection=7, author="Alice", nsfw=[4, 1, 4], since="2024"
    ).to_filter()
    assert (f.q, f.collection, f.author, f.since) == ("cat", 7, "Alice", "2024")
    assert tuple(f.nsfw_levels) == (1, 4)


@pytest.mark.parametrize(
    "bad",
    [{"since": "yesterday"}, {"until": "2024-1"}, {"type": "<script>"}, {"sort": "best"}],
)
def test_malformed_values_are_refused(bad):
    with pytest.raises(ValidationError):
        SearchParams.model_validate(bad)
