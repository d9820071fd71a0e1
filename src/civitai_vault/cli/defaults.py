"""What every command's options get without being asked: readable metavars and the
settings file.

`prepare_parameters` runs once per command (from `core.command`):

- Each value option gets a metavar that says what to type (`DIR`, `URL`, `N`)
  instead of a Python type (`<path>`, `<list[str]>`), and a flag none at all.
- Each option that is a setting (`settings_file.SETTINGS`) reads its
  environment variable when the flag is not given, and the settings file when
  neither is: flag > environment > settings file > default, as click resolves
  a flag and its envvar first, and the callback fills in the file only when
  click says the value is its default.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import ArgumentInfo, OptionInfo, ParameterInfo

from civitai_vault.settings_file import BY_KEY, SettingsFile

# (command, parameter) -> settings key, where the names differ or are ambiguous.
SETTING_FOR = {
    ("serve", "host"): "serve_host",
    ("serve", "port"): "serve_port",
    ("emulator", "host"): None,
    ("emulator", "port"): None,
    ("demo", "folder"): None,  # the demo has its own folder
    ("demo", "quiet"): "quiet",
}
# Parameters that are the setting of the same name wherever they appear.
SAME_NAME = frozenset(
    {
        "archive",
        "rate",
        "cdn_rate",
        "concurrency",
        "template",
        "media",
        "embed",
        "sidecars",
        "quiet",
        "verbose",
        "max_age",
        "browser_path",
    }
)
METAVARS = {
    "--archive": "DIR",
    "--base-url": "URL",
    "--image-base-url": "URL",
    "--site": "com|red",
    "--output": "FILE",
    "--html": "FILE",
    "--cookies": "FILE",
    "--format": "FORMAT",
    "--template": "TEMPLATE",
    "--api-key": "KEY",
    "--token": "TOKEN",
    "--since": "DATE",
    "--until": "DATE",
    "--host": "ADDRESS",
    "--browser-path": "PATH",
    "--cookies-from-browser": "BROWSER[:PROFILE]",
}
SETTINGS_META_KEY = "civitai_vault.settings_file"


def prepare_parameters(command_name: str, func: Callable[..., Any]) -> None:
    """Give `func`'s typer parameters metavars and settings-file defaults (in place).

    String annotations (`from __future__ import annotations`) are evaluated once
    and kept on `func`: evaluated again, `typer.Option(...)` would be a new object
    each time, without what is set here.
    """
    signature = inspect.signature(func, eval_str=True)
    func.__signature__ = signature  # type: ignore[attr-defined]
    func.__annotations__ = {
        **{p.name: p.annotation for p in signature.parameters.values()},
        "return": signature.return_annotation,
    }
    for parameter in signature.parameters.values():
        info, annotation = _parameter_info(parameter)
        if info is None:
            continue
        if info.metavar is None:
            info.metavar = _metavar(parameter.name, info, annotation)
        key = SETTING_FOR.get((command_name, parameter.name), _same_name(parameter.name))
        if key is not None and isinstance(info, OptionInfo) and info.callback is None:
            setting = BY_KEY["browser" if key == "browser_path" else key]
            if info.envvar is None:
                info.envvar = setting.env
            info.callback = _from_settings_file(setting.key)


def _same_name(name: str) -> str | None:
    return name if name in SAME_NAME else None


def _parameter_info(parameter: inspect.Parameter) -> tuple[ParameterInfo | None, Any]:
    annotation = parameter.annotation
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        for extra in extras:
            if isinstance(extra, ParameterInfo):
                return extra, base
    if isinstance(parameter.default, ParameterInfo):
        return parameter.default, annotation
    return None, annotation


def _metavar(name: str, info: ParameterInfo, annotation: Any) -> str:
    kind = _bare(annotation)
    if isinstance(info, ArgumentInfo):
        return name.upper().rstrip("S") + "..." if typing.get_origin(kind) is list else name.upper()
    declared = [d for d in (info.param_decls or ()) if d.startswith("--")]
    flag = declared[0].split("/")[0] if declared else "--" + name.replace("_", "-")
    if kind is bool:
        return ""
    if flag in METAVARS:
        return METAVARS[flag]
    if kind in (int, float):
        return "N"
    if kind is Path:
        return "PATH"
    return "TEXT"


def _bare(annotation: Any) -> Any:
    """`int | None` -> int."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return args[0] if len(args) == 1 else annotation
    return annotation


def settings_file(ctx: typer.Context) -> SettingsFile:
    """The settings file, read once per command line; a broken one ends the command."""
    root = ctx.find_root()
    found = root.meta.get(SETTINGS_META_KEY)
    if found is None:
        try:
            found = SettingsFile()
        except ValueError as exc:
            from civitai_vault.cli.core import fail

            fail(str(exc), 2)
        root.meta[SETTINGS_META_KEY] = found
    return found


def _from_settings_file(key: str) -> Callable[[typer.Context, Any, Any], Any]:
    def callback(ctx: typer.Context, param: Any, value: Any) -> Any:
        # Typer bundles its own click: compare the source by name, not by enum identity.
        source = ctx.get_parameter_source(param.name) if param.name else None
        if source is not None and source.name != "DEFAULT":
            return value
        stored = settings_file(ctx).values.get(key)
        if stored is None:
            return value
        return Path(stored).expanduser() if key == "archive" else stored

    # Typer hands a callback its context and parameter by their annotations, which must
    # be the classes themselves (this module's annotations are strings).
    callback.__annotations__ = {"ctx": typer.Context, "param": typer.CallbackParam, "value": Any}
    return callback


def _readable(params: list[Any]) -> list[Any]:
    """Help shows what to type: no type column for flags (--help included) or arguments."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        if isinstance(param, TyperArgument) and param.metavar:
            # Typer prints an argument's Python type (`<list[str]>`) beside its metavar.
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
    return params


def _readable_help(option: Any) -> Any:
    if option is not None:
        option.metavar = ""
    return option


class ReadableCommand(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _readable(super().get_params(ctx))

    def get_help_option(self, ctx: Any) -> Any:
        return _readable_help(super().get_help_option(ctx))


class ReadableGroup(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _readable(super().get_params(ctx))

    def get_help_option(self, ctx: Any) -> Any:
        return _readable_help(super().get_help_option(ctx))
