"""The Civitai client: tRPC codec (superjson + devalue), typed errors, pacing, retries,
typed models, CDN URLs and downloads. What the user wants archived is parsed by
`civitai_vault.sources`.

    from civitai_vault.api import ClientSettings, CivitaiClient

    async with CivitaiClient(ClientSettings(site="red", api_key=key)) as client:
        info = await client.get_image(123)

Nothing here knows about the archive; nothing outside here knows about HTTP.
"""

from civitai_vault.api.cdn import Download, image_url
from civitai_vault.api.client import CivitaiClient, Whoami
from civitai_vault.api.errors import (
    AccessDenied,
    BadRequest,
    CivitaiError,
    InsecureBaseURL,
    KeyRejected,
    LoginRequired,
    MalformedResponse,
    NetworkError,
    NotFound,
    OriginRejected,
    RateLimited,
    ServerError,
    UnexpectedRedirect,
)
from civitai_vault.api.models import (
    Collection,
    CollectionPermissions,
    CollectionResult,
    Creator,
    GenerationData,
    GenerationMeta,
    ImageInfo,
    ImageListItem,
    ModelSummary,
    ModelVersion,
    Post,
    Resource,
    Tag,
    User,
    UserCollection,
    VotableTag,
)
from civitai_vault.api.pagination import ImagePage, ImagePages
from civitai_vault.api.settings import ClientSettings
from civitai_vault.api.stats import ClientStats

__all__ = [
    "AccessDenied",
    "BadRequest",
    "CivitaiClient",
    "CivitaiError",
    "ClientSettings",
    "ClientStats",
    "Collection",
    "CollectionPermissions",
    "CollectionResult",
    "Creator",
    "Download",
    "GenerationData",
    "GenerationMeta",
    "ImageInfo",
    "ImageListItem",
    "ImagePage",
    "ImagePages",
    "InsecureBaseURL",
    "KeyRejected",
    "LoginRequired",
    "MalformedResponse",
    "ModelSummary",
    "ModelVersion",
    "NetworkError",
    "NotFound",
    "OriginRejected",
    "Post",
    "RateLimited",
    "Resource",
    "ServerError",
    "Tag",
    "UnexpectedRedirect",
    "User",
    "UserCollection",
    "VotableTag",
    "Whoami",
    "image_url",
]
