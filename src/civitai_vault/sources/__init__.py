"""Every source a person archives, declared once (see `base.Source`).

from civitai_vault.sources import parse_target, SOURCES
target = parse_target("https://civitai.com/user/NAME/videos")
target.source.procedure      # "user.getCreator, then image.getInfinite {username}"
"""

from civitai_vault.sources import declared as _declared  # noqa: F401  (registers the catalogue)
from civitai_vault.sources.base import SOURCES, Source, SyncJob, Target
from civitai_vault.sources.declared import SourceRefused, UserNotFound, checked
from civitai_vault.sources.filters import Filters, filters_from_options
from civitai_vault.sources.parse import ACCEPTED_FORMS, parse_target

__all__ = [
    "ACCEPTED_FORMS",
    "SOURCES",
    "Filters",
    "Source",
    "SourceRefused",
    "SyncJob",
    "Target",
    "UserNotFound",
    "checked",
    "filters_from_options",
    "parse_target",
]
