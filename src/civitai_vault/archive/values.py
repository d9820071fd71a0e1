"""What SQLite can store, and what happens to a value it cannot.

SQLite's INTEGER is 64-bit signed; Python's sqlite3 raises OverflowError for
anything from 2^63 on, and UnicodeEncodeError for text holding a lone UTF-16
surrogate. Civitai sends both without any attacker: ComfyUI seeds range over
0..2^64-1 (JavaScript prints them as integer literals), and JavaScript cuts
strings inside emoji. So every value is checked here before it is bound:

- a seed beyond 64 bits is kept exactly, as its decimal digits (`seed_exact`);
- text has lone surrogates replaced by U+FFFD (the raw JSON keeps the original,
  escaped: see `untrusted.exact_json`);
- any other integer out of range (an id, a size, a level: none can be valid)
  raises UnstorableValue, naming the field and the value, so that the image it
  belongs to fails alone with that reason and the run goes on.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from typing import Any

from civitai_vault.errors import ArchiveError
from civitai_vault.untrusted import sound_text

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class UnstorableValue(ArchiveError):
    """A value the archive cannot hold; the message is the reason its image failed."""


def fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def storable(name: str, value: Any) -> Any:
    """`value` ready to bind to SQLite, or UnstorableValue naming `name` and the value."""
    name = name.replace("_", " ")
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if not fits_int64(value):
            raise UnstorableValue(
                f"{name} {value} is out of range (the archive holds whole numbers "
                "up to 2^63-1, and no real value is larger)"
            )
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, str):
        return sound_text(value)
    raise UnstorableValue(f"{name} is {type(value).__name__}, not a single value")


def storable_values(names: Iterable[str], values: Iterable[Any]) -> list[Any]:
    return [storable(name, value) for name, value in zip(names, values, strict=True)]


def seed_columns(seed: Any) -> tuple[Any, str | None]:
    """The `seed` and `seed_exact` columns for a seed: exact whatever its size."""
    if isinstance(seed, int) and not isinstance(seed, bool) and not fits_int64(seed):
        return None, str(seed)
    return storable("seed", seed), None


def seed_from_columns(seed: Any, seed_exact: str | None) -> Any:
    """The seed as Civitai gave it, from the two columns `seed_columns` filled."""
    if seed_exact:
        try:
            return int(seed_exact)
        except ValueError:
            return seed_exact
    return seed


# What one image's write can fail with, as opposed to what ends a run (a full or
# read-only disk, a locked or damaged database: sqlite3.OperationalError, OSError).
# OverflowError and UnicodeError are what sqlite3 raises for the values `storable`
# catches first; IntegrityError is a row that contradicts another (a file path
# two images would share).
IMAGE_ERRORS: tuple[type[BaseException], ...] = (
    UnstorableValue,
    sqlite3.IntegrityError,
    OverflowError,
    UnicodeError,
)
