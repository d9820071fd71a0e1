"""The local gallery: search, browse and read an archive in a browser (`civitai-vault serve`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from civitai_vault.web.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # FastAPI loads only when the gallery is used, not with every CLI command.
    if name == "create_app":
        from civitai_vault.web.app import create_app

        return create_app
    raise AttributeError(name)
