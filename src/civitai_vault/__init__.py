"""civitai-vault: archive your Civitai images with every piece of generation data.

The library the `civitai-vault` command is built on:

    from civitai_vault import CivitaiAPI, CivitaiImage, Vault

- `Vault(path, **settings)`: an archive folder; `sync`, `images`, `stats`,
  `export`, `check_models`, `status`, as the command line has them.
- `CivitaiAPI`: a blocking client for scripts (one image, a collection walk,
  model availability); `CivitaiImage` is one image with all its data.
- `CivitaiClient`: the asyncio client underneath.

Names are imported on first use, so `import civitai_vault` stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "Vault": "civitai_vault.vault",
    "Filters": "civitai_vault.vault",
    "CivitaiAPI": "civitai_vault.api.image_analysis",
    "CivitaiImage": "civitai_vault.api.image_analysis",
    "ModelAvailability": "civitai_vault.api.image_analysis",
    "ResourceUse": "civitai_vault.api.image_analysis",
    "CivitaiClient": "civitai_vault.api.client",
    "ClientSettings": "civitai_vault.api.settings",
    "Target": "civitai_vault.api.targets",
    "parse_target": "civitai_vault.api.targets",
    "ImageRecord": "civitai_vault.records",
    "ResourceEntry": "civitai_vault.records",
    "EXPORT_FIELDS": "civitai_vault.records",
    "Stats": "civitai_vault.analysis.results",
    "CheckResult": "civitai_vault.analysis.availability",
    "ExportResult": "civitai_vault.export.exporter",
    "SyncSummary": "civitai_vault.sync.summary",
    "TargetSummary": "civitai_vault.sync.summary",
    "CivitaiError": "civitai_vault.api.errors",
    "AccessDenied": "civitai_vault.api.errors",
    "BadRequest": "civitai_vault.api.errors",
    "LoginRequired": "civitai_vault.api.errors",
    "MalformedResponse": "civitai_vault.api.errors",
    "NetworkError": "civitai_vault.api.errors",
    "NotFound": "civitai_vault.api.errors",
    "RateLimited": "civitai_vault.api.errors",
    "ServerError": "civitai_vault.api.errors",
    "ArchiveError": "civitai_vault.errors",
    "UsageError": "civitai_vault.errors",
}
# Where a module calls it something else.
_RENAMED = {"SyncSummary": "RunSummary"}

__all__ = [
    "EXPORT_FIELDS",
    "AccessDenied",
    "ArchiveError",
    "BadRequest",
    "CheckResult",
    "CivitaiAPI",
    "CivitaiClient",
    "CivitaiError",
    "CivitaiImage",
    "ClientSettings",
    "ExportResult",
    "Filters",
    "ImageRecord",
    "LoginRequired",
    "MalformedResponse",
    "ModelAvailability",
    "NetworkError",
    "NotFound",
    "RateLimited",
    "ResourceEntry",
    "ResourceUse",
    "ServerError",
    "Stats",
    "SyncSummary",
    "Target",
    "TargetSummary",
    "UsageError",
    "Vault",
    "__version__",
    "parse_target",
]

if TYPE_CHECKING:
    from civitai_vault.analysis.availability import CheckResult
    from civitai_vault.analysis.results import Stats
    from civitai_vault.api.client import CivitaiClient
    from civitai_vault.api.errors import (
        AccessDenied,
        BadRequest,
        CivitaiError,
        LoginRequired,
        MalformedResponse,
        NetworkError,
        NotFound,
        RateLimited,
        ServerError,
    )
    from civitai_vault.api.image_analysis import (
        CivitaiAPI,
        CivitaiImage,
        ModelAvailability,
        ResourceUse,
    )
    from civitai_vault.api.settings import ClientSettings
    from civitai_vault.api.targets import Target, parse_target
    from civitai_vault.errors import ArchiveError, UsageError
    from civitai_vault.export.exporter import ExportResult
    from civitai_vault.records import EXPORT_FIELDS, ImageRecord, ResourceEntry
    from civitai_vault.sync.summary import RunSummary as SyncSummary
    from civitai_vault.sync.summary import TargetSummary
    from civitai_vault.vault import Filters, Vault


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'civitai_vault' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
