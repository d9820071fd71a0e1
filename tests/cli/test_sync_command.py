"""`civitai-vault sync` and `status` as a user runs them, against the emulator.

What each target must archive is computed from the emulator's dataset: which
images a collection, post or user holds, and which of them the site shows
(civitai.red: every rating to a signed-in user; civitai.com: PG and PG-13).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SHOWN_ON = {"red": 31, "com": 1 | 2}
RED_NOTE = "--site red"


def visible(dataset: Any, ids: Any, site: str = "red") -> list[int]:
    return sorted(i for i in ids if dataset.nsfw_level_of(i) & SHOWN_ON[site])


def collection_expectation(dataset: Any, collection_id: int) -> tuple[str, list[int]]:
    return f"collection:{collection_id}", visible(
        dataset, dataset.collections[collection_id].image_ids
    )


def own_collections(dataset: Any) -> list[tuple[str, list[int]]]:
    """The owner's image collections, and their Post collection's posts' images.

    Their Model and Article collections hold no images: `me` notes them, skipped.
    """
    found = []
    for c in sorted(dataset.collections.values(), key=lambda c: c.id):
        if c.owner_id != dataset.owner.id or c.id in (
            dataset.named["model_collection"],
            dataset.named["article_collection"],
        ):
            continue
        if c.id == dataset.named["post_collection"]:
            posts = dataset.collections[c.id].post_ids
            ids = [i for p in posts for i in dataset.posts[p].image_ids]
            found.append((f"collection:{c.id}", visible(dataset, ids)))
        else:
            found.append(collection_expectation(dataset, c.id))
    return found


# target form -> (what the user types, [(target key, image ids it must list)])
TARGET_FORMS: dict[str, Callable[[Any], tuple[str, list[tuple[str, list[int]]]]]] = {
    "collection URL on civitai.com": lambda d: (
        f"https://civitai.com/collections/{d.named['public_collection']}",
        [collection_expectation(d, d.named["public_collection"])],
    ),
    "collection URL on civitai.red": lambda d: (
        f"https://civitai.red/collections/{d.named['unlisted_collection']}?sort=Newest",
        [collection_expectation(d, d.named["unlisted_collection"])],
    ),
    "collection:N": lambda d: (
        f"collection:{d.named['demo_collection']}",
        [collection_expectation(d, d.named["demo_collection"])],
    ),
    "image:N": lambda d: (
        f"image:{d.named['hostile_image']}",
        [(f"image:{d.named['hostile_image']}", [d.named["hostile_image"]])],
    ),
    "image URL": lambda d: (
        f"https://www.civitai.com/images/{d.named['video_image']}",
        [(f"image:{d.named['video_image']}", [d.named["video_image"]])],
    ),
    "post:N": lambda d: (
        f"post:{d.named['post_id']}",
        [(f"post:{d.named['post_id']}", visible(d, d.posts[d.named["post_id"]].image_ids))],
    ),
    "post URL": lambda d: (
        f"https://civitai.red/posts/{d.named['post_id']}",
        [(f"post:{d.named['post_id']}", visible(d, d.posts[d.named["post_id"]].image_ids))],
    ),
    "user images URL": lambda d: (
        f"https://civitai.com/user/{d.named['other_username']}/images",
        [
            (
                f"user_images:{d.named['other_username']}",
                visible(d, d.images_of_user(d.user_by_username(d.named["other_username"]).id)),
            )
        ],
    ),
    "own collections URL": lambda d: (
        f"https://civitai.com/user/{d.named['owner_username']}/collections",
        own_collections(d),
    ),
    "me": lambda d: ("me", own_collections(d)),
}


def sync_json(cli: Any, archive: Path, *args: str) -> dict[str, Any]:
    done = cli("sync", "--archive", str(archive), "--json", "--rate", "0", *args)
    assert done.code == 0, done.stderr
    return done.json()


def listed_by_target(summary: dict[str, Any]) -> dict[str, int]:
    return {t["key"]: t["listed"] for t in summary["targets"]}


@pytest.mark.parametrize("form", list(TARGET_FORMS))
def test_every_target_form_archives_what_it_names(red_cli, red_emulator, tmp_path, form):
    dataset = red_emulator.dataset
    typed, expected = TARGET_FORMS[form](dataset)
    archive = tmp_path / "archive"
    summary = sync_json(red_cli, archive, "--no-media", typed)
    summary["targets"] = [t for t in summary["targets"] if not t["skipped"]]

    assert summary["ok"] is True
    assert listed_by_target(summary) == {key: len(ids) for key, ids in expected}
    assert all(t["complete"] and t["failed"] == 0 for t in summary["targets"])
    everything = {i for _, ids in expected for i in ids}
    assert sum(t["new"] for t in summary["targets"]) == len(everything)

    status = red_cli("status", "--archive", str(archive), "--json").json()
    assert status["totals"]["images"] == len(everything)
    assert status["totals"]["with_details"] == len(everything)
    assert {t["target"]: t["images"] for t in status["targets"] if t["images"]} == {
        key: len(ids) for key, ids in expected if ids
    }


def test_a_sync_with_files_and_its_status(red_cli, red_emulator, tmp_path):
    dataset = red_emulator.dataset
    post = dataset.posts[dataset.named["post_id"]]
    archive = tmp_path / "archive"
    done = red_cli.process("sync", "--archive", str(archive), "--rate", "0", f"post:{post.id}")
    assert done.code == 0, done.stderr
    assert "sync summary" in done.stdout
    # Piped, the summary table is drawn as wide as it needs: no header is cut short.
    header = next(line for line in done.stdout.splitlines() if "target" in line)
    for column in ("listed", "updated", "downloaded", "failed", "removed", "complete"):
        assert column in header, header
    assert "…" not in done.stdout

    media = [p for p in (archive / "media").rglob("*") if p.is_file()]
    assert len(media) == len(post.image_ids)
    status = red_cli("status", "--archive", str(archive), "--json").json()
    assert status["totals"]["files"] == len(post.image_ids)
    assert status["totals"]["bytes"] == sum(p.stat().st_size for p in media)

    text = red_cli("status", "--archive", str(archive))
    assert text.code == 0
    assert f"{len(post.image_ids)} images" in text.stdout
    assert f"{len(post.image_ids)} files" in text.stdout
    row = next(line for line in text.stdout.splitlines() if line.split()[:1] == [f"post:{post.id}"])
    # images, removed, hidden (by the site), new, failed, complete
    n = str(len(post.image_ids))
    assert row.split()[1:7] == [n, "0", "0", n, "0", "yes"]
    header = next(line for line in text.stdout.splitlines() if line.split()[:1] == ["target"])
    assert header.split()[1:7] == ["images", "removed", "hidden", "new", "failed", "complete"]


def test_a_second_sync_finds_nothing_new(red_cli, red_emulator, tmp_path):
    target = f"collection:{red_emulator.dataset.named['public_collection']}"
    archive = tmp_path / "archive"
    first = sync_json(red_cli, archive, "--no-media", target)
    second = sync_json(red_cli, archive, "--no-media", target)
    assert first["targets"][0]["new"] > 0
    assert second["targets"][0]["new"] == 0
    assert second["targets"][0]["listed"] == first["targets"][0]["listed"]
    assert second["api_requests"] < first["api_requests"]
    status = red_cli("status", "--archive", str(archive), "--json").json()
    assert status["targets"][0]["new"] == 0


def test_limit_stops_after_n_images_and_is_not_a_failure(red_cli, red_emulator, tmp_path):
    target = f"collection:{red_emulator.dataset.named['demo_collection']}"
    archive = tmp_path / "archive"
    done = red_cli("sync", "--archive", str(archive), "--json", "--rate", "0", "--limit", "7",
                   "--no-media", target)  # fmt: skip
    assert done.code == 0, done.stderr
    summary = done.json()
    assert summary["targets"][0]["listed"] == 7
    assert summary["targets"][0]["complete"] is False  # the rest is still to be fetched
    assert any("--limit 7" in note for note in summary["targets"][0]["notes"])
    status = red_cli("status", "--archive", str(archive), "--json").json()
    assert status["totals"]["images"] == 7


def test_progress_is_plain_lines_when_not_on_a_terminal(red_cli, red_emulator, tmp_path):
    dataset = red_emulator.dataset
    post = dataset.posts[dataset.named["post_id"]]
    done = red_cli("sync", "--archive", str(tmp_path / "a"), "--rate", "0", "--no-media",
                   f"post:{post.id}")  # fmt: skip
    assert done.code == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == f"syncing post {post.id}"
    assert "\x1b[" not in done.stderr and "\r" not in done.stderr
    count = len(visible(dataset, post.image_ids))
    # One line per target when it ends, saying what it got.
    assert lines[-1].strip() == (
        f"post {post.id}: listed {count}, new {count}, updated 0, downloaded 0 files (0 B), "
        "failed 0, removed 0, hidden 0; complete"
    )
    assert len(lines) <= 3  # a quick run: its start, perhaps one count line, its end


def test_plain_progress_says_so_far_until_the_listing_ends_then_speed(tmp_path):
    import io

    from civitai_vault.sync.progress import PlainReporter
    from civitai_vault.sync.summary import TargetSummary

    out = io.StringIO()
    reporter = PlainReporter(out, every_seconds=0)
    reporter.start_target("collection 5")
    reporter.add_total("listing", 200)
    reporter.advance("listing", 200)
    reporter.add_total("details", 43)
    reporter.advance("details", 43)
    assert "listing 200 so far, details 43 so far, downloads 0 so far" in out.getvalue()
    assert " left" not in out.getvalue()  # nothing to count down to yet
    reporter.add_total("details", 550)
    reporter.listing_done()
    assert (
        out.getvalue().splitlines()[-1].startswith("  listing 200, details 43/593, downloads 0/0; ")
    )
    # Every total is final now: a speed and a time remaining.
    assert " images/s, about " in out.getvalue().splitlines()[-1]
    assert out.getvalue().splitlines()[-1].endswith(" left")
    reporter.wait_notice("waiting 8 s before asking image.get again: Civitai asked to wait")
    assert out.getvalue().splitlines()[-1] == (
        "  waiting 8 s before asking image.get again: Civitai asked to wait"
    )
    reporter.finish_target(
        TargetSummary(
            "collection:5",
            "collection 5",
            listed=200,
            new=3,
            downloaded=2,
            downloaded_bytes=2_500_000,
            complete=True,
        )
    )
    reporter.close()
    assert out.getvalue().splitlines()[-1] == (
        "  collection 5: listed 200, new 3, updated 0, downloaded 2 files (2.5 MB), failed 0, "
        "removed 0, hidden 0; complete"
    )


def test_quiet_prints_nothing_on_success(red_cli, red_emulator, tmp_path):
    target = f"image:{red_emulator.dataset.named['video_image']}"
    done = red_cli("sync", "--archive", str(tmp_path / "a"), "--quiet", "--rate", "0", target)
    assert done.code == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_json_is_the_only_thing_on_stdout(red_cli, red_emulator, tmp_path):
    target = f"image:{red_emulator.dataset.named['video_image']}"
    summary = sync_json(red_cli, tmp_path / "a", target)
    assert summary["targets"][0]["downloaded"] == 1
    assert summary["bytes_downloaded"] > 0


def test_on_civitai_com_the_summary_says_r_and_x_are_hidden(
    green_cli, red_cli, red_emulator, tmp_path
):
    dataset = red_emulator.dataset
    collection = dataset.collections[dataset.named["demo_collection"]]
    shown_on_com = visible(dataset, collection.image_ids, "com")
    assert len(shown_on_com) < len(collection.image_ids)

    green = sync_json(green_cli, tmp_path / "com", "--no-media", f"collection:{collection.id}")
    assert green["targets"][0]["listed"] == len(shown_on_com)
    assert any("R and X" in note and RED_NOTE in note for note in green["notes"])
    text = green_cli("sync", "--archive", str(tmp_path / "com"), "--rate", "0", "--no-media",
                     f"collection:{collection.id}")  # fmt: skip
    assert RED_NOTE in text.stdout

    red = sync_json(red_cli, tmp_path / "red", "--no-media", "--site", "red",
                    f"collection:{collection.id}")  # fmt: skip
    assert red["targets"][0]["listed"] == len(collection.image_ids)
    assert not any(RED_NOTE in note for note in red["notes"])


def test_someone_elses_private_collection_fails_with_exit_1(red_cli, red_emulator, tmp_path):
    dataset = red_emulator.dataset
    private = dataset.named["others_private_collection"]
    readable = dataset.named["public_collection"]
    archive = tmp_path / "archive"
    done = red_cli("sync", "--archive", str(archive), "--rate", "0", "--no-media",
                   f"collection:{private}", f"collection:{readable}")  # fmt: skip
    assert done.code == 1
    assert "your login cannot read it" in done.stdout
    assert f"collection {private}" in done.stderr.splitlines()[-1]

    status = red_cli("status", "--archive", str(archive), "--json").json()
    counts = {t["target"]: (t["images"], t["complete"]) for t in status["targets"]}
    assert counts[f"collection:{readable}"] == (
        len(visible(dataset, dataset.collections[readable].image_ids)),
        True,
    )
    assert counts[f"collection:{private}"] == (0, False)


def test_a_failed_target_is_reported_even_when_quiet_or_json(red_cli, red_emulator, tmp_path):
    private = f"collection:{red_emulator.dataset.named['others_private_collection']}"
    quiet = red_cli("sync", "--archive", str(tmp_path / "a"), "--quiet", private)
    assert quiet.code == 1
    assert "cannot read it" in quiet.error_line
    as_json = red_cli("sync", "--archive", str(tmp_path / "a"), "--json", private)
    assert as_json.code == 1
    assert as_json.json()["ok"] is False
    assert "cannot read it" in as_json.error_line


def test_a_private_collection_without_a_login_says_to_log_in(cli, red_emulator, tmp_path):
    private = f"collection:{red_emulator.dataset.named['demo_collection']}"
    done = cli.pointing_at(red_emulator)("sync", "--archive", str(tmp_path / "a"), private)
    assert done.code == 1
    assert "civitai-vault login" in done.stdout
    me = cli.pointing_at(red_emulator)("sync", "--archive", str(tmp_path / "a"), "me")
    assert me.code == 1
    assert "civitai-vault login" in me.error_line


@pytest.mark.parametrize(
    "args",
    [
        ["bogus:1"],
        ["collection:abc"],
        ["https://example.com/collections/1"],
        ["https://civitai.com/articles/1"],
        ["https://civitai.com/collections/1?utm_source=x"],
        ["collection:1", "post:"],
        [],
        ["collection:1", "--concurrency", "0"],
        ["collection:1", "--concurrency", "65"],
        ["collection:1", "--rate", "-1"],
        ["collection:1", "--limit", "0"],
    ],
)
def test_malformed_targets_and_options_are_exit_2(red_cli, tmp_path, args):
    archive = tmp_path / "archive"
    done = red_cli("sync", "--archive", str(archive), *args)
    assert done.code == 2
    assert done.stdout == ""
    assert not archive.exists()


def test_status_without_an_archive_says_to_sync(cli, tmp_path):
    done = cli("status", "--archive", str(tmp_path / "nothing"))
    assert done.code == 1
    assert "civitai-vault sync" in done.error_line


def test_a_mistyped_file_name_template_is_refused_before_anything_is_fetched(red_cli, tmp_path):
    archive = tmp_path / "archive"
    done = red_cli("sync", "--archive", str(archive), "--template", "{nope}/{image_id}.{ext}",
                   "image:1")  # fmt: skip
    assert done.code == 2
    assert "{nope}" in done.error_line
    assert not archive.exists()


def test_a_sync_refused_before_it_starts_leaves_no_one_saying_waits(red_cli, tmp_path):
    # Its progress took the wait notices when it was made; left holding them, it
    # would say the next run's waits to this command's closed stderr and fail that run.
    from civitai_vault import waits
    from civitai_vault.waits import announce_wait, waits_said_by

    done = red_cli("sync", "--archive", str(tmp_path / "archive"), "--template", "{nope}",
                   "image:1")  # fmt: skip
    assert done.code == 2
    assert not waits._saying  # the command's progress gave the notices back
    said: list[str] = []
    with waits_said_by(lambda message, seconds: said.append(message)):
        announce_wait(3, "the pace")
    assert said == ["waiting 3 s: the pace"]
    announce_wait(3, "nobody listens")  # and, with no one left, nothing fails


@pytest.mark.parametrize(
    ("target", "named"),
    [("post:1", "post 1"), ("https://civitai.com/user/no_such_user/images", "'no_such_user'")],
)
def test_a_target_that_does_not_exist_is_an_error_naming_it(red_cli, tmp_path, target, named):
    """Not "0 listed, complete": the post or user is looked up first (exit 1)."""
    done = red_cli("sync", "--archive", str(tmp_path / "archive"), target)
    assert done.code == 1
    assert named in done.error_line


@pytest.mark.parametrize(
    ("target", "named"),
    [
        ("model:999999", "model 999999"),
        ("https://civitai.com/models/999999/some-name", "model 999999"),
        ("model-version:999999", "model version 999999"),
        ("https://civitai.com/models/999999?modelVersionId=999999", "model version 999999"),
    ],
)
def test_a_model_that_does_not_exist_is_one_line_and_1(
    red_cli, red_emulator, tmp_path, target, named
):
    """Not "0 listed, complete": the model or version is looked up before its gallery."""
    versions = red_emulator.dataset.model_versions
    assert 999999 not in versions and 999999 not in {v.model_id for v in versions.values()}
    archive = tmp_path / "archive"
    done = red_cli("sync", "--archive", str(archive), "--rate", "0", target)
    assert done.code == 1
    assert named in done.error_line and "Traceback" not in done.stderr
    if (archive / "vault.db").exists():
        conn = sqlite3.connect(archive / "vault.db")
        try:
            assert conn.execute("SELECT count(*) FROM targets WHERE complete").fetchone() == (0,)
        finally:
            conn.close()


def test_an_unknown_user_is_an_error_that_names_them(red_cli, tmp_path):
    """image.getInfinite answers a username it does not know with 404 "User not found"."""
    archive = tmp_path / "archive"
    done = red_cli("sync", "--archive", str(archive), "--json", "--rate", "0",
                   "https://civitai.com/user/no_such_user/images")  # fmt: skip
    assert done.code == 1
    assert "no_such_user" in done.error_line and "not found" in done.error_line


def test_a_civitai_red_url_means_the_red_site(cli, red_emulator, tmp_path):
    """Without --site, a URL on civitai.red is synced as civitai.red: R and X included."""
    user = cli.pointing_at(red_emulator, signed_in=True)
    collection = red_emulator.dataset.named["demo_collection"]
    no_site = {"CIVITAI_SITE": ""}
    red = user("sync", "--archive", str(tmp_path / "a"), "--json", "--rate", "0", "--no-media",
               f"https://civitai.red/collections/{collection}", env=no_site)  # fmt: skip
    assert red.code == 0, red.stderr
    assert not any(RED_NOTE in note for note in red.json()["notes"])
    com = user("sync", "--archive", str(tmp_path / "a"), "--json", "--rate", "0", "--no-media",
               f"https://civitai.com/collections/{collection}", env=no_site)  # fmt: skip
    assert any(RED_NOTE in note for note in com.json()["notes"])


def test_a_template_that_can_give_two_images_one_name_is_refused_before_any_request(
    red_cli, red_emulator, tmp_path
):
    before = red_emulator.count()
    target = f"collection:{red_emulator.dataset.named['demo_collection']}"
    done = red_cli(
        "sync", "--archive", str(tmp_path / "a"), target, "--template", "{username}.{ext}"
    )
    assert done.code == 2
    assert "include {image_id}" in done.error_line
    assert red_emulator.count() == before  # refused before anything was fetched
    assert not (tmp_path / "a" / "media").exists()


def test_plain_progress_counts_towards_a_collections_size_and_starts_each_target_afresh():
    import io

    from civitai_vault.sync.progress import PlainReporter
    from civitai_vault.sync.summary import TargetSummary

    out = io.StringIO()
    reporter = PlainReporter(out, every_seconds=0)
    reporter.start_target("Cats (collection 5)", expected=600)
    assert out.getvalue().splitlines() == ["syncing Cats (collection 5): about 600 images"]
    reporter.add_total("listing", 200)
    reporter.advance("listing", 200)
    line = out.getvalue().splitlines()[-1]
    assert line.startswith("  listing 200 of about 600, details 0 so far, downloads 0 so far; ")
    assert line.endswith(" left")  # the listing has a goal: the time to reach it
    reporter.add_total("listing", 450)
    reporter.advance("listing", 450)  # more than the count said: never "650 of about 600"
    assert out.getvalue().splitlines()[-1].startswith("  listing 650 of about 650,")
    reporter.listing_done()
    assert out.getvalue().splitlines()[-1].startswith("  listing 650, details 0/0, downloads 0/0;")
    reporter.finish_target(TargetSummary("collection:5", "Cats (collection 5)", listed=650))
    reporter.start_target("post 9")
    reporter.add_total("listing", 3)
    assert out.getvalue().splitlines()[-1].startswith("  listing 0 so far, details 0 so far,")
    reporter.close()


def test_terminal_progress_shows_about_totals_and_a_status_line_for_the_wait():
    import io

    from rich.console import Console, Group

    from civitai_vault.sync.progress import RichReporter
    from civitai_vault.waits import announce_wait

    def shown() -> str:
        screen = Console(file=io.StringIO(), record=True, width=150, color_system=None)
        screen.print(Group(*reporter.progress.get_renderables()))
        return screen.export_text()

    terminal = Console(file=io.StringIO(), force_terminal=True, width=150)
    reporter = RichReporter(terminal)
    try:
        reporter.start_target("Cats (collection 5)", expected=600)
        reporter.add_total("listing", 200)
        reporter.advance("listing", 200)
        assert "200 of about 600" in shown() and "0 so far" in shown()
        announce_wait(8, "the CDN answered 503 for image 123, try 2 of 7")
        assert shown().splitlines()[-1] == (
            "waiting 8 s: the CDN answered 503 for image 123, try 2 of 7"
        )
        announce_wait(None, "Civitai (example.org) has not answered for 2 s")
        assert "has not answered" in shown()
        reporter.advance("listing", 1)  # work goes on: a wait of no set length is over
        assert "waiting" not in shown()
        reporter.wait_notice("waiting 3 s: over already", 0)  # lasted no time: not shown
        assert "waiting" not in shown()
        reporter.listing_done()
        assert "201/201" in shown() and "of about" not in shown()  # final: the real count
    finally:
        reporter.close()


def test_limit_flags_hold_when_a_civitai_red_url_picks_the_site(cli, red_emulator, tmp_path):
    """The red site chosen by the URL keeps the run's limits: every listing answer holds more
    than 5 values, so --max-answer-values 5 stops it instead of being dropped."""
    user = cli.pointing_at(red_emulator, signed_in=True)
    collection = red_emulator.dataset.named["demo_collection"]
    done = user("sync", "--archive", str(tmp_path / "a"), "--json", "--rate", "0", "--no-media",
                "--max-answer-values", "5", f"https://civitai.red/collections/{collection}",
                env={"CIVITAI_SITE": ""})  # fmt: skip
    assert done.code == 1, done.stderr
    assert "--max-answer-values" in done.stdout + done.stderr


def test_collections_of_me_that_hold_no_images_are_not_targets_of_later_runs(
    red_cli, red_emulator, tmp_path
):
    """`me`'s Model and Article collections are noted by the run that meets them; a
    later bare `sync` of every target the archive holds is not failed by them."""
    archive = tmp_path / "archive"
    first = sync_json(red_cli, archive, "--no-media", "me")
    assert sum(t["skipped"] for t in first["targets"]) == 2
    shown = red_cli("sync", "--archive", str(tmp_path / "shown"), "--no-media", "--rate", "0", "me")
    assert shown.code == 0, shown.stderr
    skipped_rows = [line for line in shown.stdout.splitlines() if "skipped" in line]
    assert len(skipped_rows) == 2, shown.stdout  # said as skipped, not as incomplete ("no")
    assert not [line for line in shown.stdout.splitlines() if line.rstrip(" │|").endswith(" no")]
    own = {key for key, _ in own_collections(red_emulator.dataset)}

    again = sync_json(red_cli, archive, "--no-media")  # exit 0, or it fails here
    assert again["ok"] is True
    assert {t["key"] for t in again["targets"]} == own
    status = red_cli("status", "--archive", str(archive), "--json").json()
    assert {t["target"] for t in status["targets"]} == own
