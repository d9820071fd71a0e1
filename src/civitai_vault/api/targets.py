"""Kept for old imports: targets are parsed by `civitai_vault.sources` now."""

from civitai_vault.sources import ACCEPTED_FORMS, Target, parse_target

__all__ = ["ACCEPTED_FORMS", "Target", "parse_target"]
