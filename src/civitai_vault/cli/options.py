"""Options shared by several commands: one declaration each.

A single shared flag is an `Annotated` alias (`ArchiveOption`, `QuietOption`).
Flags that travel together are a group: a frozen dataclass whose fields are
the flags. A command asks for a group by a parameter annotated with it:

    @command("whoami")
    def whoami_command(output: Output, connection: Connection) -> None: ...

and `expand_option_groups` (called by `command`) puts the group's flags in the
command's signature at that place, then hands the command one object. To give
every command of a group a new flag, add a field to the group.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import sys
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import typer

from civitai_vault.api.limits import LIMIT_SETTINGS, LimitSetting
from civitai_vault.vault import Filters as VaultFilters

if TYPE_CHECKING:
    from civitai_vault.api.targets import Target
    from civitai_vault.config import Settings
    from civitai_vault.sources import Filters as FeedFilterValues
    from civitai_vault.vault import Vault

DEFAULT_ARCHIVE = Path("./civitai-archive")

ArchiveOption = Annotated[
    Path,
    typer.Option(
        "--archive",
        envvar="CIVITAI_VAULT_ARCHIVE",
        help="Archive folder (holds vault.db and media/).",
        show_default=True,
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait",
        help="If another civitai-vault is writing to the archive, wait for it to finish "
        "(default: stop and name it).",
    ),
]
RateOption = Annotated[
    float | None,
    typer.Option("--rate", min=0, help="API requests per second, 0 = unlimited (2)."),
]

SiteOption = Annotated[
    str | None,
    typer.Option(
        "--site",
        envvar="CIVITAI_SITE",
        help="com (civitai.com) or red (civitai.red).",
        show_default="com",
    ),
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option("--base-url", envvar="CIVITAI_BASE_URL", help="Civitai's URL (overrides --site)."),
]
ImageBaseUrlOption = Annotated[
    str | None,
    typer.Option("--image-base-url", envvar="CIVITAI_IMAGE_BASE_URL", help="Image CDN URL."),
]
VideoBaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--video-base-url",
        envvar="CIVITAI_VIDEO_BASE_URL",
        help="Video origin URL (tried first for a video's file).",
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="CIVITAI_API_KEY",
        help="Civitai API key (visible to other users in `ps`: prefer --api-key-file or "
        "CIVITAI_API_KEY).",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="CIVITAI_TOKEN",
        help="Session cookie value (visible to other users in `ps`: prefer --token-file or "
        "CIVITAI_TOKEN).",
        show_default=False,
    ),
]
ApiKeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--api-key-file",
        help="Read the API key from this file (its first line); - reads it from stdin.",
        show_default=False,
    ),
]
TokenFileOption = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        help="Read the session cookie value from this file; - reads it from stdin.",
        show_default=False,
    ),
]


class OptionGroup:
    """Marks a dataclass whose fields are command-line flags (see the module docstring)."""

    is_option_group: ClassVar[bool] = True


G = typing.TypeVar("G", bound=OptionGroup)


def flags_from(flags: Iterable[tuple[str, Any]]) -> Callable[[type[G]], type[G]]:
    """Declare a group's flags from the table that is their home: each (name, annotated
    type) becomes a field that defaults to None, for `@dataclass` to take up."""

    def declare(group: type[G]) -> type[G]:
        annotations = dict(inspect.get_annotations(group))
        for name, annotation in flags:
            annotations[name] = annotation
            setattr(group, name, None)
        group.__annotations__ = annotations
        return group

    return declare


@dataclass(frozen=True)
class Output(OptionGroup):
    """--json: data on stdout instead of the rendered text."""

    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False


@dataclass(frozen=True)
class SiteOptions(OptionGroup):
    """Which Civitai: --site, --base-url, --image-base-url, --video-base-url."""

    site: SiteOption = None
    base_url: BaseUrlOption = None
    image_base_url: ImageBaseUrlOption = None
    video_base_url: VideoBaseUrlOption = None


def _limit_option(limit: LimitSetting) -> Any:
    """The flag of one limit; its environment variable and settings-file key are read by
    config (`load_settings`), so typer gets no envvar here."""
    return typer.Option(
        limit.flag,
        min=0,
        help=f"Limit: {limit.help} ({_plain_number(limit.default)}).",
        rich_help_panel="Limits",
        show_default=False,
    )


def _plain_number(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:,}"


@dataclass(frozen=True)
@flags_from(
    (limit.key, Annotated[limit.kind | None, _limit_option(limit)]) for limit in LIMIT_SETTINGS
)
class Limits(OptionGroup):
    """What a server may make the client hold, write or wait for (README: Limits and safety).

    One flag per limit of `api.limits.LIMIT_SETTINGS`, named by its key."""


@dataclass(frozen=True)
class Connection(SiteOptions, Limits):
    """Which Civitai and who you are there: every command that goes online takes these."""

    api_key: ApiKeyOption = None
    token: TokenOption = None
    api_key_file: ApiKeyFileOption = None
    token_file: TokenFileOption = None
    # Whether --api-key / --token also read the environment (not so for `login`).
    environment: ClassVar[bool] = True
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Log every request (method, URL, status, time) to stderr; never credentials.",
        ),
    ] = False

    def vault(self, archive: Path | None) -> Vault:
        """The archive at `archive`, reached with these options."""
        from civitai_vault.vault import Vault

        log_requests(self.verbose)
        api_key, token = self.credentials()
        return Vault(
            archive,
            limits=self.limit_flags(),
            site=self.site,
            base_url=self.base_url,
            image_base_url=self.image_base_url,
            video_base_url=self.video_base_url,
            api_key=api_key,
            token=token,
        )

    def limit_flags(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(Limits)}

    def settings(self, archive: Path | None = None, targets: Sequence[Target] = ()) -> Settings:
        """Flags > environment > the config file `login` wrote > defaults, as `Vault`
        resolves them (a civitai.red URL among `targets` means civitai.red, unless --site,
        CIVITAI_SITE or the settings file says otherwise)."""
        return self.vault(archive).settings_for(targets)

    def credentials(self) -> tuple[str | None, str | None]:
        """The API key and token given: from their files, else from the flag or environment."""
        from civitai_vault.cli.secrets import read_secret, warn_if_on_command_line

        api_key, token = self.api_key, self.token
        if self.api_key_file is not None:
            api_key = read_secret(self.api_key_file, "api-key")
        elif api_key:
            warn_if_on_command_line(
                api_key, "api-key", "CIVITAI_API_KEY" if self.environment else None
            )
        if self.token_file is not None:
            token = read_secret(self.token_file, "token")
        elif token:
            warn_if_on_command_line(token, "token", "CIVITAI_TOKEN" if self.environment else None)
        return api_key, token


class _StderrHandler(logging.Handler):
    """Writes to the stderr of the moment, not the one at set-up (a test runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr, flush=True)


def log_requests(on: bool = True) -> None:
    """Show every request on stderr, one line each (`--verbose`), or stop showing them."""
    logger = logging.getLogger("civitai_vault.requests")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.DEBUG if on else logging.WARNING)


# The help of each filter flag; the flag is `--` and the field's name, dashed.
_FILTER_HELP = {
    "collection": "Only images in this collection id.",
    "tag": "Only images with this tag.",
    "model": "Checkpoint name, model id or version id.",
    "lora": "LoRA name, model id or version id.",
    "base_model": "Base model, e.g. 'SDXL 1.0', 'Pony'.",
    "author": "Author's username.",
    "since": "Created on or after (YYYY[-MM[-DD[THH:MM]]]).",
    "until": "Created up to and including (2024-05: all May).",
}


def _filter_option(name: str) -> Any:
    return typer.Option("--" + name.replace("_", "-"), help=_FILTER_HELP[name])


@dataclass(frozen=True)
@flags_from(
    (name, Annotated[kind, _filter_option(name)])
    for name, kind in typing.get_type_hints(VaultFilters).items()
)
class Filters(OptionGroup):
    """Which archived images: the same filters for export and stats, one flag for each
    key of `vault.Filters`."""

    def as_kwargs(self) -> VaultFilters:
        """The filters as `Vault.images`, `stats` and `export` take them."""
        values = {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}
        return typing.cast("VaultFilters", values)


def _feed_option(flag: str, help: str) -> Any:
    return typer.Option(flag, help=help, rich_help_panel="Sync filters", show_default=False)


@dataclass(frozen=True)
class FeedFilters(OptionGroup):
    """What of each named target's feed to archive (`sync`): the same filters a pasted
    URL's query string gives (`?types=video`), flags over the URL's."""

    nsfw: Annotated[
        str | None,
        _feed_option("--nsfw", "Levels pg,pg13,r,x,xxx (comma-separated), all, or 1..31."),
    ] = None
    type_: Annotated[str | None, _feed_option("--type", "image or video.")] = None
    since: Annotated[
        str | None, _feed_option("--since", "Created on or after this day (YYYY-MM-DD).")
    ] = None
    until: Annotated[
        str | None, _feed_option("--until", "Created on or before this day (YYYY-MM-DD).")
    ] = None
    base_model: Annotated[
        list[str] | None,
        _feed_option("--base-model", "Only this base model, e.g. 'SDXL 1.0' (repeatable)."),
    ] = None
    sort: Annotated[
        str | None,
        _feed_option("--sort", "Newest, Oldest, Most Reactions, Most Comments, Most Collected."),
    ] = None
    period: Annotated[
        str | None, _feed_option("--period", "Day, Week, Month, Year or AllTime.")
    ] = None

    def values(self) -> FeedFilterValues:
        """The filters; a value that can never work is a ValueError of one line."""
        from civitai_vault.sources import filters_from_options

        return filters_from_options(
            nsfw=self.nsfw,
            type_=self.type_,
            since=self.since,
            until=self.until,
            base_model=self.base_model,
            sort=self.sort,
            period=self.period,
        )


def _is_group(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, OptionGroup)


def _group_parameters(group: type[OptionGroup]) -> list[inspect.Parameter]:
    hints = typing.get_type_hints(group, include_extras=True)
    return [
        inspect.Parameter(
            field.name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=hints[field.name],
            default=field.default,
        )
        for field in dataclasses.fields(group)  # type: ignore[arg-type]
    ]


def expand_option_groups(func: Callable[..., None]) -> Callable[..., None]:
    """`func` with each option-group parameter replaced by the group's flags.

    The returned function takes the flags as keyword arguments, builds each
    group from its own, and calls `func`. Without groups, `func` itself.
    """
    signature = inspect.signature(func, eval_str=True)
    groups: dict[str, type[OptionGroup]] = {}
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        if _is_group(parameter.annotation):
            groups[parameter.name] = parameter.annotation
            parameters += _group_parameters(parameter.annotation)
        else:
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    if not groups:
        return func
    fields = {name: [p.name for p in _group_parameters(g)] for name, g in groups.items()}

    @functools.wraps(func)
    def expanded(**values: Any) -> None:
        for name, group in groups.items():
            values[name] = group(**{flag: values.pop(flag) for flag in fields[name]})
        func(**values)

    expanded.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    expanded.__annotations__ = _annotations(parameters, signature.return_annotation)
    return expanded


def _annotations(parameters: Sequence[inspect.Parameter], result: Any) -> dict[str, Any]:
    return {**{p.name: p.annotation for p in parameters}, "return": result}
