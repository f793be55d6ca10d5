"""The real httpx clients of a command: one for the API, one (without the key) for outputs.

Both are httpx clients configured from the environment the way httpx documents
it (``trust_env``): ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` (``socks5://``
too) and ``NO_PROXY`` choose the route of each request, and ``SSL_CERT_FILE`` or
``SSL_CERT_DIR`` the CA bundle, else certifi's. The bundle is loaded once, for
both clients and every proxy, and only when a TLS connection can happen at all.

Below httpx, requests go through aiohttp (``runner.api.transport``), which costs a
fraction of httpx's own stack's CPU; when any proxy variable is set, through
httpx's own stack (httpcore and h11), so that httpx alone reads every route.

The API's client follows no redirects (an API answer is never one) and keeps
idle connections a few seconds only, below the usual keep-alive of servers,
so that a create is seldom written on a connection the server is closing.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import os
import ssl
import urllib.request
from typing import TYPE_CHECKING

import httpx

from runner.api.client import USER_AGENT
from runner.base.errors import ConfigError

if TYPE_CHECKING:  # imported when first used: aiohttp takes a tenth of a second to load
    from runner.api.transport import AiohttpTransport

KEEPALIVE = 4.0  # seconds an idle connection is kept
MAX_DOWNLOADS = 16  # connections to output hosts at once


def tls_context(needed: bool) -> ssl.SSLContext:
    """The CA bundle httpx would choose (SSL_CERT_FILE, SSL_CERT_DIR, certifi), loaded once.

    When no TLS connection can happen (an http:// API, no downloads, no proxy)
    an empty store is enough: it verifies as strictly, and costs nothing to load.
    """
    if not needed:
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        return httpx.create_ssl_context(trust_env=True)
    except (OSError, ssl.SSLError) as err:
        where = _ca_setting()
        raise ConfigError(f"cannot load the CA bundle {where}: {err}") from None


def needs_tls(base_url: str, download: bool) -> bool:
    """Whether a TLS connection may be made: https API, downloads, or any proxy."""
    return base_url.startswith("https:") or download or bool(urllib.request.getproxies())


def api_client(
    connections: int,
    tls: ssl.SSLContext,
    timeout: httpx.Timeout,
    transport: AiohttpTransport | None = None,
) -> httpx.AsyncClient:
    """The client for the API: one connection per request in flight at most.

    On ``transport`` when given (``api_transport``'s, whose ``exchange`` the API
    client then sends with), else on the one ``_transport`` chooses."""
    limits = _api_limits(connections)
    return httpx.AsyncClient(
        trust_env=True,
        verify=tls,
        timeout=timeout,
        limits=limits,
        follow_redirects=False,
        transport=transport or _transport(limits, tls),
        cookies=_NoCookies(),  # an API sets none worth keeping; reading them costs per answer
    )


def files_client(
    tls: ssl.SSLContext, timeout: httpx.Timeout, global_only: bool = True
) -> httpx.AsyncClient:
    """The client for outputs: no key, and redirects followed by the downloader, checked;
    with ``global_only``, connected only to addresses outside the machine's networks
    (``runner.api.transport.GlobalOnlyResolver``; behind a proxy, the proxy resolves)."""
    limits = httpx.Limits(
        max_connections=MAX_DOWNLOADS,
        max_keepalive_connections=MAX_DOWNLOADS,
        keepalive_expiry=KEEPALIVE,
    )
    return httpx.AsyncClient(
        trust_env=True,
        verify=tls,
        timeout=timeout,
        limits=limits,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        transport=_transport(limits, tls, global_only),
    )


def api_transport(connections: int, tls: ssl.SSLContext) -> AiohttpTransport | None:
    """The API's aiohttp transport, None when a proxy is set (httpx's own stack then)."""
    return _transport(_api_limits(connections), tls)


def _api_limits(connections: int) -> httpx.Limits:
    return httpx.Limits(
        max_connections=max(1, connections),
        max_keepalive_connections=max(1, connections),
        keepalive_expiry=KEEPALIVE,
    )


def proxied() -> bool:
    """Whether any proxy variable is set (NO_PROXY alone is none)."""
    return any(scheme != "no" for scheme in urllib.request.getproxies())


def _transport(
    limits: httpx.Limits, tls: ssl.SSLContext, global_only: bool = False
) -> AiohttpTransport | None:
    """aiohttp below httpx, unless a proxy is set: then None, httpx's own stack."""
    if proxied():
        return None
    from runner.api.transport import AiohttpTransport

    assert limits.max_connections is not None and limits.keepalive_expiry is not None
    return AiohttpTransport(limits.max_connections, tls, limits.keepalive_expiry, global_only)


class _NoCookies(http.cookiejar.CookieJar):
    """A cookie jar that keeps nothing, and so reads no Set-Cookie header."""

    def extract_cookies(
        self, response: http.client.HTTPResponse, request: urllib.request.Request
    ) -> None:
        return None


def proxy_for(url: str) -> str | None:
    """The proxy a request to ``url`` goes through (from the environment), else None.

    Read as httpx reads it (urllib's parsing of the same variables); used to
    name the proxy when a connection fails.
    """
    parsed = httpx.URL(url)
    proxies = urllib.request.getproxies()
    if not proxies or urllib.request.proxy_bypass(parsed.host):
        return None
    return proxies.get(parsed.scheme) or proxies.get("all")


def _ca_setting() -> str:
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if os.environ.get(name):
            return f"({name}={os.environ[name]!r})"
    return "(certifi's)"
