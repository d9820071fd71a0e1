"""Where a file download may go: the configured image hosts, and never a private address.

A file address comes from the server (an image's `url` may be a full URL,
and the CDN may redirect), so it is checked before every request and every
redirect hop: its host must be one of the configured image hosts (the image
base URL's, the video origin's), or a sibling of one under a Civitai-owned
domain (Civitai serves files from `image.civitai.com` and
`image-b2.civitai.com`). And whatever a host name resolves to, a connection
is only made to a public address: never to link-local (cloud metadata
services live at 169.254.169.254), private, shared, reserved or multicast
ones. Loopback is allowed when a configured host is itself on this machine
(the emulator), and an address the user configured literally is allowed as
it is.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from collections.abc import Iterable
from urllib.parse import urlsplit

from civitai_vault.api.errors import ForbiddenHost
from civitai_vault.api.settings import is_loopback_host

__all__ = ["CIVITAI_DOMAINS", "CdnHosts"]

CIVITAI_DOMAINS = ("civitai.com", "civitai.red")


class CdnHosts:
    """The hosts and addresses downloads may reach, from the configured base URLs."""

    def __init__(self, base_urls: Iterable[str | None]) -> None:
        self.hosts = frozenset(
            (urlsplit(url).hostname or "").lower() for url in base_urls if url
        ) - {""}
        self._domains = {d for d in CIVITAI_DOMAINS for h in self.hosts if _under(h, d)}
        self._loopback = any(is_loopback_host(host) for host in self.hosts)
        self._literals = {ip for ip in map(_ip_or_none, self.hosts) if ip is not None}
        self._proxies = _proxy_hosts()

    def check_url(self, url: str, *, redirect: bool = False) -> None:
        """Raise ForbiddenHost unless a download may request `url`."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        via = "a redirect to " if redirect else ""
        if parts.scheme not in ("http", "https") or not host:
            raise ForbiddenHost(f"refused {via}a file address that is not http(s)")
        if not self.allows_host(host):
            raise ForbiddenHost(f"refused {via}{host}, which is not a configured image host")
        address = _ip_or_none(host)
        if address is not None and not self.allows_address(host, str(address)):
            raise ForbiddenHost(f"refused {via}{host}, a private or reserved address")

    def allows_host(self, host: str) -> bool:
        host = host.lower().strip("[]")
        return host in self.hosts or any(_under(host, domain) for domain in self._domains)

    def allows_address(self, host: str, address: str) -> bool:
        """May a connection for `host` go to `address`? (`transport.AddressCheck`)"""
        if host.lower() in self._proxies:
            return True  # the user's own proxy; it resolves the file's host itself
        ip = _ip_or_none(address)
        if ip is None:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip in self._literals:
            return True
        if ip.is_loopback:
            return self._loopback
        return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def _under(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _ip_or_none(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _proxy_hosts() -> frozenset[str]:
    hosts = set()
    for scheme, url in urllib.request.getproxies_environment().items():
        if scheme == "no":
            continue
        host = urlsplit(url if "://" in url else f"http://{url}").hostname
        if host:
            hosts.add(host.lower())
    return frozenset(hosts)
