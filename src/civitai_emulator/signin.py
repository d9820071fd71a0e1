"""The sign-in page: a small form that, like civitai.com/login, ends in a session cookie.

Civitai signs people in through OAuth providers or an e-mail link and then sets
the auth hub's cookies: `__Secure-civ-token` (the session, an ES256 token) and
`__Secure-civ-device`, without the `__Secure-` prefix over plain http
(civitai/civitai packages/civitai-auth/src/constants.ts and cookies.ts
@ ebed661630). The emulator cannot send mail, so its form takes the dataset
owner's username and a password derived from the seed; what follows the form
is the real part: the same cookie names and attributes, then a redirect to
`returnUrl` (a path on this site only, as Civitai's own check allows).
"""

from __future__ import annotations

import hmac
import html
from urllib.parse import parse_qsl

from civitai_emulator.auth import SESSION_MAX_AGE, Credentials
from civitai_emulator.dataset import Dataset

LOGIN_PATH = "/login"
Answer = tuple[int, list[tuple[str, str]], bytes]


def login_page(query: str, *, error: str | None = None) -> Answer:
    return_url = _safe_return_url(dict(parse_qsl(query)).get("returnUrl"))
    alert = f'<p role="alert" id="error">{html.escape(error)}</p>' if error else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in | Civitai</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>Sign in to Civitai</h1>
{alert}
<form method="post" action="{LOGIN_PATH}">
  <input type="hidden" name="returnUrl" value="{html.escape(return_url)}">
  <label>Username <input name="username" id="username" autocomplete="username" required></label>
  <label>Password <input name="password" id="password" type="password"
    autocomplete="current-password" required></label>
  <button type="submit" id="sign-in">Sign in</button>
</form>
</body></html>
"""
    status = 401 if error else 200
    return status, _html_headers(), page.encode()


def submit_login(body: bytes, *, https: bool, credentials: Credentials, dataset: Dataset) -> Answer:
    form = dict(parse_qsl(body.decode("utf-8", "replace")))
    username = form.get("username", "").strip()
    password = form.get("password", "")
    owner = dataset.owner.username or ""
    if not (
        hmac.compare_digest(username.lower().encode(), owner.lower().encode())
        and hmac.compare_digest(password.encode(), credentials.password.encode())
    ):
        return login_page("", error="Wrong username or password.")
    prefix = "__Secure-" if https else ""
    attributes = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if https else "")
    headers = [
        ("location", _safe_return_url(form.get("returnUrl"))),
        (
            "set-cookie",
            f"{prefix}civ-token={credentials.session_token}; Max-Age={SESSION_MAX_AGE}{attributes}",
        ),
        (
            "set-cookie",
            f"{prefix}civ-device={credentials.device_id}; "
            f"Max-Age={SESSION_MAX_AGE * 12}{attributes}",
        ),
        ("content-type", "text/plain; charset=utf-8"),
    ]
    return 303, headers, b"See Other"


def _safe_return_url(value: str | None) -> str:
    """Only a path on this site: `//host` or `https://host` would be an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _html_headers() -> list[tuple[str, str]]:
    return [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store")]
