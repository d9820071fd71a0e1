"""Input validation that fails the way zod 4 does on the Civitai server.

A failed parse raises BAD_REQUEST whose message is the JSON list of issues, indented
by two spaces (zod 4's ZodError message, which civitai/civitai @ ebed6616 src/server/trpc.ts
errorFormatter passes on). Unknown keys are stripped, not rejected.
Only the rules the emulated procedures need are implemented.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from civitai_emulator.errors import TRPCError
from civitai_emulator.jsvalues import UNDEFINED, js_type_name

Path = list[str | int]
Issues = list[dict[str, Any]]


def _invalid_type(expected: str, value: Any, path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "expected": expected,
        **extra,
        "code": "invalid_type",
        "path": path,
        "message": f"Invalid input: expected {expected}, received {js_type_name(value)}",
    }


class Schema:
    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        raise NotImplementedError

    def optional(self, default: Any = UNDEFINED) -> Optional:
        return Optional(self, default)


@dataclass
class Optional(Schema):
    inner: Schema
    default: Any = UNDEFINED

    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        if value is UNDEFINED:
            return self.default() if callable(self.default) else self.default
        return self.inner.parse(value, path, issues)


@dataclass
class Number(Schema):
    integer: bool = False
    minimum: float | None = None
    maximum: float | None = None
    coerce: bool = False  # z.coerce.number(): Number(input) first

    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        if self.coerce:
            value = _js_number(value)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or (isinstance(value, float) and not math.isfinite(value)):
            issues.append(_invalid_type("number", value, path))
            return UNDEFINED
        if self.integer and not float(value).is_integer():
            issues.append(_invalid_type("int", value, path, format="safeint"))
            return UNDEFINED
        if self.minimum is not None and value < self.minimum:
            issues.append(_bound("too_small", "minimum", ">=", self.minimum, path))
        if self.maximum is not None and value > self.maximum:
            issues.append(_bound("too_big", "maximum", "<=", self.maximum, path))
        return int(value) if self.integer else value


def _js_number(value: Any) -> Any:
    """JavaScript's Number(value), for the inputs JSON can carry."""
    if isinstance(value, bool):
        return int(value)
    if value is None:
        return 0
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0
        try:
            return int(text) if text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            return math.nan
    if isinstance(value, int | float):
        return value
    return math.nan


def _bound(code: str, key: str, sign: str, limit: float, path: Path) -> dict[str, Any]:
    word = "small" if code == "too_small" else "big"
    return {
        "origin": "number",
        "code": code,
        key: limit,
        "inclusive": True,
        "path": path,
        "message": f"Too {word}: expected number to be {sign}{limit}",
    }


@dataclass
class String(Schema):
    pattern: str | None = None
    message: str | None = None  # a custom regex message, as `.regex(re, message)` gives

    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, str):
            issues.append(_invalid_type("string", value, path))
            return UNDEFINED
        if self.pattern is not None and not re.search(self.pattern, value):
            shown = f"/{self.pattern}/"
            issues.append(
                {
                    "origin": "string",
                    "code": "invalid_format",
                    "format": "regex",
                    "pattern": shown,
                    "path": path,
                    "message": self.message or f"Invalid string: must match pattern {shown}",
                }
            )
        return value


@dataclass
class Nullish(Schema):
    """`.nullish()`: absent or null both pass (null stays null)."""

    inner: Schema

    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        if value is UNDEFINED or value is None:
            return value
        return self.inner.parse(value, path, issues)


@dataclass
class CoercedNumber(Schema):
    """`z.preprocess((val) => Number(val), z.number()...)`: strings and booleans become
    numbers first (a string that is no number fails as NaN does)."""

    inner: Number

    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, str):
            try:
                value = float(value.strip() or 0)
            except ValueError:
                issues.append(_invalid_type("number", float("nan"), path))
                return UNDEFINED
        elif value is None:
            value = 0
        return self.inner.parse(value, path, issues)


class CoercedBoolean(Schema):
    """`z.coerce.boolean()`: JavaScript truthiness."""

    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        return bool(value) and value != 0


class Boolean(Schema):
    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, bool):
            issues.append(_invalid_type("boolean", value, path))
            return UNDEFINED
        return value


class Date(Schema):
    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, datetime):
            issues.append(_invalid_type("date", value, path))
            return UNDEFINED
        return value


@dataclass
class Enum(Schema):
    values: tuple[str, ...]

    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        if value not in self.values or not isinstance(value, str):
            listed = "|".join(json.dumps(v, ensure_ascii=False) for v in self.values)
            issues.append(
                {
                    "code": "invalid_value",
                    "values": list(self.values),
                    "path": path,
                    "message": f"Invalid option: expected one of {listed}",
                }
            )
            return UNDEFINED
        return value


@dataclass
class Array(Schema):
    item: Schema

    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, list):
            issues.append(_invalid_type("array", value, path))
            return UNDEFINED
        return [self.item.parse(v, [*path, i], issues) for i, v in enumerate(value)]


@dataclass
class TrimmedString(Schema):
    """`z.string().trim().max(n)`: trimmed first, then measured."""

    maximum: int

    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, str):
            issues.append(_invalid_type("string", value, path))
            return UNDEFINED
        value = value.strip()
        if len(value) > self.maximum:
            issues.append(
                {
                    "origin": "string",
                    "code": "too_big",
                    "maximum": self.maximum,
                    "inclusive": True,
                    "path": path,
                    "message": f"Too big: expected string to have <={self.maximum} characters",
                }
            )
        return value


class CommaDelimitedNumbers(Schema):
    """zod-helpers.ts commaDelimitedNumberArray: `"1,2"` or `[1, "2"]`, each through
    JavaScript's Number(), then `z.number().array()` (so `"x"` fails as NaN). A lone
    number is refused here as not an array; the real preprocess throws on it (a 500)."""

    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if not isinstance(value, list):
            issues.append(_invalid_type("array", value, path))
            return UNDEFINED
        return Array(Number()).parse([_js_number(v) for v in value], path, issues)


@dataclass
class Union(Schema):
    options: tuple[Schema, ...]

    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        failures: list[Issues] = []
        for option in self.options:
            attempt: Issues = []
            result = option.parse(value, [], attempt)
            if not attempt:
                return result
            failures.append(attempt)
        issues.append(
            {"code": "invalid_union", "errors": failures, "path": path, "message": "Invalid input"}
        )
        return UNDEFINED


@dataclass
class Object(Schema):
    fields: dict[str, Schema] = field(default_factory=dict)

    def parse(self, value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, dict):
            issues.append(_invalid_type("object", value, path))
            return UNDEFINED
        out: dict[str, Any] = {}
        for key, schema in self.fields.items():
            result = schema.parse(value.get(key, UNDEFINED), [*path, key], issues)
            if result is not UNDEFINED:
                out[key] = result
        return out


def validate(schema: Schema, value: Any) -> Any:
    """Parse `value` or raise BAD_REQUEST carrying zod's issue list as the message."""
    issues: Issues = []
    result = schema.parse(value, [], issues)
    if issues:
        raise TRPCError("BAD_REQUEST", json.dumps(issues, indent=2, ensure_ascii=False))
    return result


# ------------------------------------------------------- the procedures' inputs

ID = Object({"id": Number()})

IMAGE_GET = Object({"id": Number(), "withoutPost": Boolean().optional()})

IMAGE_SORTS = ("Most Reactions", "Most Comments", "Most Collected", "Newest", "Oldest", "Random")
PERIODS = ("Day", "Week", "Month", "Year", "AllTime")
INCLUDES = (
    "tags",
    "count",
    "cosmetics",
    "report",
    "meta",
    "tagIds",
    "profilePictures",
    "metaSelect",
)
MEDIA_TYPES = ("image", "video", "audio")
# src/shared/zod/username.schema.ts
USERNAME_PATTERN = r"^[A-Za-z0-9_]*$"
USERNAME_MESSAGE = 'The "username" field can only contain letters, numbers, and _.'
GENERATION_PROCESSES = ("txt2img", "txt2imgHiRes", "img2img", "inpainting")
REACTIONS = ("Like", "Dislike", "Laugh", "Cry", "Heart")
_numbers = Array(Number()).optional()
_flag = Boolean().optional()

IMAGE_GET_INFINITE = Object(
    {
        "limit": Number(integer=True, minimum=0, maximum=200).optional(100),
        "cursor": Union((Number(), String(), Date())).optional(),
        "sort": Enum(IMAGE_SORTS).optional("Most Reactions"),
        "period": Enum(PERIODS).optional("AllTime"),
        "periodMode": Enum(("stats", "published")).optional("published"),
        "browsingLevel": Number(integer=True).optional(31),
        "include": Array(Enum(INCLUDES)).optional(lambda: ["cosmetics"]),
        "withMeta": Boolean().optional(False),
        "withTags": _flag,
        "collectionId": Number().optional(),
        "collectionTagId": Number().optional(),
        "postId": Number().optional(),
        "postIds": _numbers,
        "modelId": Number().optional(),
        "modelVersionId": Number().optional(),
        "userId": Number().optional(),
        "username": String(pattern=USERNAME_PATTERN, message=USERNAME_MESSAGE).optional(),
        "imageId": Number().optional(),
        "model3dId": Number().optional(),
        "reviewId": Number().optional(),
        "remixOfId": Number().optional(),
        "prioritizedUserIds": _numbers,
        "hideAutoResources": _flag,
        "hideManualResources": _flag,
        "tools": _numbers,
        "techniques": _numbers,
        "generation": Array(Enum(GENERATION_PROCESSES)).optional(),
        "newCreators": _flag,
        "includePG13": _flag,
        "poiOnly": _flag,
        "minorOnly": _flag,
        "pendingReviewOnly": _flag,
        "ids": _numbers,
        "tags": _numbers,
        "excludedTagIds": _numbers,
        "excludedUserIds": _numbers,
        "types": Array(Enum(MEDIA_TYPES)).optional(),
        "baseModels": Array(String()).optional(),
        "reactions": Array(Enum(REACTIONS)).optional(),
        "hidden": _flag,
        "followed": _flag,
        "fromPlatform": CoercedBoolean().optional(),
        "notPublished": CoercedBoolean().optional(),
        "scheduled": CoercedBoolean().optional(),
        "pending": _flag,
        "publishedOnly": _flag,
        "disablePoi": _flag,
        "disableMinor": _flag,
        "requiringMeta": _flag,
        "includeBaseModel": _flag,
        "hideChallenges": _flag,
        "remixesOnly": _flag,
        "nonRemixesOnly": _flag,
        "skip": Number(integer=True).optional(),
    }
)

VOTABLE_TAGS = Object(
    {
        "type": Enum(("model", "image")),
        "id": Number(),
        "take": Number(integer=True).optional(100),
    }
)

MODEL_VERSION_GET = Object({"id": Number(), "withFiles": Boolean().optional()})

COLLECTION_PERMISSIONS = ("VIEW", "ADD", "ADD_REVIEW", "MANAGE")
COLLECTION_TYPES = ("Model", "Article", "Post", "Image", "Model3D")
COLLECTION_READ = ("Private", "Public", "Unlisted")
COLLECTION_MODES = ("Contest", "Bookmark")
ALL_USER_COLLECTIONS = Object(
    {
        "contributingOnly": Boolean().optional(True),
        "permission": Enum(COLLECTION_PERMISSIONS).optional(),
        "permissions": Array(Enum(COLLECTION_PERMISSIONS)).optional(),
        "type": Enum(COLLECTION_TYPES).optional(),
        "includeActiveContests": _flag,
        "contestModelId": Number().optional(),
    }
)

# collection.schema.ts getAllCollectionsInfiniteSchema (civitai/civitai @ ebed6616):
# infiniteQuerySchema (base.schema.ts: `limit: z.coerce.number().min(1).max(200).default(20)`,
# `cursor: z.number().optional()`) extended, merged with userPreferencesSchema, `.partial()`.
COLLECTIONS_INFINITE = Object(
    {
        "limit": Number(minimum=1, maximum=200, coerce=True).optional(20),
        "cursor": Number().optional(),
        "userId": Number().optional(),
        "query": TrimmedString(maximum=100).optional(),
        "types": Array(Enum(COLLECTION_TYPES)).optional(),
        "privacy": Array(Enum(COLLECTION_READ)).optional(),
        "sort": Enum(("Most Followers", "Newest")).optional("Newest"),
        "ids": CommaDelimitedNumbers().optional(),
        "modes": Array(Enum(COLLECTION_MODES)).optional(),
        "browsingLevel": Number().optional(),
        "excludedModelIds": _numbers,
        "excludedUserIds": _numbers,
        "excludedTagIds": _numbers,
        "excludedImageIds": _numbers,
    }
)

GET_CREATOR = Object(
    {
        # src/shared/zod/username.schema.ts (civitai/civitai @ ebed6616)
        "username": String(pattern=USERNAME_PATTERN, message=USERNAME_MESSAGE).optional(),
        "id": Number().optional(),
        "leaderboardId": String().optional(),
    }
)

REACTION_TOGGLE = Object(
    {
        "entityId": Number(),
        "entityType": Enum(("image", "post", "comment", "article", "question", "answer")),
        "reaction": Enum(REACTIONS),
    }
)

SAVE_COLLECTION_ITEM = Object(
    {
        "type": Enum(COLLECTION_TYPES),
        "imageId": Number().optional(),
        "collections": Array(Object({"collectionId": Number()})).optional(),
    }
)

# post.schema.ts postsQuerySchema (civitai/civitai @ ebed6616): baseQuerySchema merged
# with postsFilterSchema; defaults from constants.postFilterDefaults.
POST_SORTS = ("Most Reactions", "Most Comments", "Most Collected", "Newest")
POSTS_INFINITE = Object(
    {
        "browsingLevel": Number(minimum=0).optional(31),
        "period": Enum(PERIODS).optional("AllTime"),
        "periodMode": Enum(("stats", "published")).optional("published"),
        "sort": Enum(POST_SORTS).optional("Most Reactions"),
        "draftOnly": _flag,
        "scheduled": CoercedBoolean().optional(),
        "limit": CoercedNumber(Number(minimum=0, maximum=200)).optional(100),
        "cursor": Union((Number(), String())).optional(),
        "query": String().optional(),
        "excludedTagIds": _numbers,
        "excludedUserIds": _numbers,
        "excludedImageIds": _numbers,
        "tags": _numbers,
        "username": Nullish(String()),
        "modelVersionId": Number().optional(),
        "ids": _numbers,
        "collectionId": Number().optional(),
        "include": Array(Enum(("cosmetics",))).optional(lambda: ["cosmetics"]),
        "followed": _flag,
        "pending": _flag,
        "disablePoi": _flag,
        "disableMinor": _flag,
        "poiOnly": _flag,
        "minorOnly": _flag,
    }
)

# src/server/schema/orchestrator/workflows.schema.ts workflowQuerySchema
WORKFLOW_QUERY = Object(
    {
        "take": Number().optional(20),
        "cursor": String().optional(),
        "tags": Array(String()).optional(lambda: []),
        "ascending": _flag,
        "fromDate": Date().optional(),
        "toDate": Date().optional(),
        "excludeFailed": _flag,
    }
)
