"""Signing in: checking credentials against Civitai before saving them, and asking who we are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from civitai_vault.api import CivitaiClient, ClientSettings, KeyRejected
from civitai_vault.api.settings import SITE_URLS
from civitai_vault.config import CredentialStore, Settings
from civitai_vault.errors import UsageError

# Cookie names that carry a Civitai session, newest first (civitai/civitai @ ebed6616:
# packages/civitai-auth/src/constants.ts, src/server/auth/get-server-auth-session.ts).
SESSION_COOKIES = ("__Secure-civ-token", "civ-token", "__Secure-civitai-token")


@dataclass(frozen=True)
class Credentials:
    api_key: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class Identity:
    signed_in: bool
    user_id: int | None
    username: str | None
    site: str
    base_url: str
    nsfw_visible: bool
    withheld: str | None = None  # why a saved login was not used here

    @property
    def site_label(self) -> str:
        """The site's name ("civitai.red"), and its URL when another server stands in for it."""
        name = f"civitai.{self.site}"
        return name if self.base_url == SITE_URLS.get(self.site) else f"{name} at {self.base_url}"

    def sentence(self) -> str:
        if not self.signed_in and self.withheld:
            return f"Not signed in to {self.site_label}: {self.withheld}"
        if not self.signed_in:
            return (
                f"Not signed in to {self.site_label}: only public PG images are visible; "
                "run `civitai-vault login`"
            )
        name = self.username or f"user {self.user_id}" if self.user_id else "an account"
        if self.nsfw_visible:
            rating = "R and X images are visible here"
        else:
            rating = "R and X images are hidden here; use --site red to see them"
        return f"Signed in to {self.site_label} as {name}; {rating}."


def looks_like_session_token(secret: str) -> bool:
    """Session tokens are long signed blobs (JWT/JWE, dotted); API keys are short hex strings."""
    return secret.count(".") >= 2 or secret.startswith("eyJ") or len(secret) > 64


def read_cookies_file(path: Path) -> str:
    """The Civitai session cookie from a Netscape cookies.txt, as browsers' exporters write it."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read the cookies file {path}: {exc.strerror}") from None
    found: dict[str, str] = {}
    for line in lines:
        if line.startswith("#HttpOnly_"):
            line = line[len("#HttpOnly_") :]
        fields = line.split("\t")
        if line.startswith("#") or len(fields) < 7:
            continue
        domain, name, value = fields[0], fields[5], fields[6].strip()
        if "civitai" in domain and name in SESSION_COOKIES and value:
            found[name] = value
    for name in SESSION_COOKIES:
        if name in found:
            return found[name]
    raise UsageError(
        f"no Civitai session cookie in {path}: export cookies.txt while signed in to civitai.com "
        "(it must hold __Secure-civ-token or __Secure-civitai-token)"
    )


async def whoami(settings: Settings) -> Identity:
    async with CivitaiClient(settings.client_settings()) as client:
        who = await client.whoami()
        return Identity(
            signed_in=who.signed_in,
            user_id=who.user_id,
            username=who.username,
            site=who.site,
            base_url=client.base_url,
            nsfw_visible=who.signed_in and not client.site_is_green,
            withheld=settings.withheld,
        )


async def login(
    store: CredentialStore,
    credentials: Credentials,
    site: str | None,
    base_url: str | None,
    image_base_url: str | None,
) -> Identity:
    """Check the credentials against the server, then save them (and the site chosen)."""
    saved_token: dict[str, str] = {}

    def keep_upgraded(name: str, value: str) -> None:
        if name.endswith("civ-token"):
            saved_token["token"] = value

    settings = ClientSettings(
        site="red" if site == "red" else "com",
        base_url=base_url,
        image_base_url=image_base_url,
        api_key=credentials.api_key,
        token=credentials.token,
        on_session_cookie=keep_upgraded,
    )
    async with CivitaiClient(settings) as client:
        try:
            who = await client.whoami()
        except KeyRejected:
            who = None
        if who is None or not who.signed_in:
            kind = "API key" if credentials.api_key else "session token"
            raise UsageError(
                f"Civitai did not accept that {kind} (expired or mistyped): nothing was saved; "
                "create a new one and run `civitai-vault login` again"
            )
        identity = Identity(
            True, who.user_id, who.username, who.site, client.base_url, not client.site_is_green
        )
    store.save(
        api_key=credentials.api_key,
        token=saved_token.get("token", credentials.token),
        site=site,
        base_url=base_url,
        image_base_url=image_base_url,
        credential_site=settings.api_origin,  # the site these were checked against
    )
    return identity


async def list_collections(settings: Settings) -> list[dict[str, Any]]:
    async with CivitaiClient(settings.client_settings()) as client:
        collections = await client.get_user_collections()
    return [
        {
            "id": c.id,
            "name": c.name,
            "type": c.type,
            "read": c.read,
            "is_owner": c.is_owner,
            "description": c.description,
        }
        for c in collections
    ]
