"""An httpx transport over aiohttp's client: every request when no proxy is configured.

httpx stays the interface above it: its ``Request`` and ``Response``, and its
tree of errors, which ``runner.network`` reads for the create-retry rules.
Below it aiohttp connects (TLS with the context given, from SSL_CERT_FILE,
SSL_CERT_DIR or certifi), writes the request, parses the answer with its C
parser (interim 1xx answers skipped), follows no redirect and keeps
connections alive; it costs a fraction of httpx's own stack's CPU per request
(benchmarks/RESULTS.md). Proxies are not its business: ``runner.commands.clients``
keeps httpx's own stack whenever a proxy variable is set, so every route
(``NO_PROXY``, ``ALL_PROXY``, SOCKS) is read by httpx as before.

aiohttp's errors, as they are raised here (the first that matches)::

    aiohttp                                   httpx                 the request
    ConnectionTimeoutError                    ConnectTimeout        never sent: no connection
                                                                    was made, or none came free
    ClientConnectorError (refused, DNS,       ConnectError          never sent (a TLS handshake
      TLS handshake and certificate)                                is part of connecting)
    InvalidURL, NonHttpUrlClientError         UnsupportedProtocol   never sent
    ServerTimeoutError (a read)               ReadTimeout           sent, the answer late
    ServerDisconnectedError                   RemoteProtocolError   sent: the server closed the
                                                                    connection after reading it
    ClientResponseError, ClientPayloadError   RemoteProtocolError   sent: the answer garbled, cut
    ClientOSError, ClientConnectionResetError ReadError             sent: reset writing or reading
    any other ClientError                     RemoteProtocolError   sent (the safe reading)

An error nobody listed reads as sent: a create is then ``uncertain``, never paid twice.

With ``global_only`` (the files client, unless the API itself is on an internal
host) every name is resolved by a resolver that drops internal addresses
(``runner.api.hosts.is_internal``), so the connection is made only to addresses
that passed the check: a DNS server that answers the downloader's check with a
public address and the connection with an internal one (DNS rebinding) is
refused there, as a failed connect.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from runner.api import hosts, network


@contextmanager
def _default_ca_paths_unread() -> Iterator[None]:
    """ssl's default CA paths left unread while aiohttp is imported.

    aiohttp builds two default SSLContexts when it is imported, for requests that
    name no context, and reads the system's CA bundle into each: a third of its
    import time. Every connection here has the context it is given (``ssl=`` on
    the connector), so those two are never used; with an empty store they could
    only refuse a certificate, never accept one.
    """
    read = ssl.SSLContext.set_default_verify_paths
    setattr(ssl.SSLContext, "set_default_verify_paths", lambda self: None)  # noqa: B010
    try:
        yield
    finally:
        setattr(ssl.SSLContext, "set_default_verify_paths", read)  # noqa: B010


with _default_ca_paths_unread():
    import aiohttp

# Headers aiohttp would add of its own; httpx's own stack sends none of them
# unless the request has them (the API client and the files client set theirs).
_NOT_ADDED = ("Accept", "Accept-Encoding", "User-Agent")


class GlobalOnlyResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's default resolver, with every internal address left out of its answer."""

    def __init__(self, inner: aiohttp.abc.AbstractResolver | None = None) -> None:
        self._inner = inner or aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [one for one in found if not hosts.is_internal(ipaddress.ip_address(one["host"]))]
        if not kept:
            shown = ", ".join(sorted({one["host"] for one in found}))
            refused = f"{host} resolves only to internal addresses ({shown}); not connected"
            raise OSError(errno.EACCES, refused)  # aiohttp shows the strerror
        return kept

    async def close(self) -> None:
        await self._inner.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests with one aiohttp session: at most ``connections`` at once,
    idle ones kept ``keepalive`` seconds, TLS verified with ``tls``."""

    def __init__(
        self, connections: int, tls: ssl.SSLContext, keepalive: float, global_only: bool = False
    ) -> None:
        self._connections = max(1, connections)
        self._global_only = global_only
        self._tls = tls
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running event loop, as aiohttp wants.
        connector = aiohttp.TCPConnector(
            limit=self._connections,
            ssl=self._tls,
            keepalive_timeout=self._keepalive,
            resolver=GlobalOnlyResolver() if self._global_only else None,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,  # routes are httpx's to read (see the module docstring)
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_NOT_ADDED,
            auto_decompress=False,  # httpx decodes, as it does on its own stack
            timeout=aiohttp.ClientTimeout(total=None),
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with _mapped(request):
            answer = await self._request(request, decompress=False)
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            stream=_Body(answer, request),
            request=request,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (answer.reason or "").encode("ascii", "replace"),
            },
        )

    async def exchange(self, request: httpx.Request, limit: int) -> tuple[httpx.Response, bytes]:
        """``request`` sent, and its answer's body read whole (decoded, as ``network.capped``
        reads it: AnswerTooLarge past ``limit`` bytes), without httpx's client layers.

        For the API client, which wants no cookies, no auth flow and no redirect.
        The response has the answer's status and headers; its body is given apart."""
        with _mapped(request):
            answer = await self._request(request, decompress=True)
            try:
                declared = answer.headers.get("Content-Length", "")
                body = await network.capped(answer.content.iter_any(), declared, limit, request)
            finally:
                _Body.done(answer)
        response = httpx.Response(
            answer.status, headers=answer.raw_headers, request=request, stream=_READ_APART
        )
        return response, body

    async def _request(self, request: httpx.Request, decompress: bool) -> aiohttp.ClientResponse:
        """``request`` sent as it is (no redirect followed); its answer, body unread."""
        session = self._session or self._open()
        content = await request.aread()
        return await session.request(
            request.method,
            str(request.url),
            headers=request.headers.multi_items(),
            data=content or None,
            allow_redirects=False,
            auto_decompress=decompress,
            timeout=self._timeout(request.extensions.get("timeout") or {}),
        )

    def _timeout(self, timeout: dict[str, float | None]) -> aiohttp.ClientTimeout:
        """httpx's timeouts in aiohttp's terms: ``connect`` there includes the wait for
        a free connection (httpx's pool timeout), ``sock_connect`` the connecting."""
        key = (timeout.get("pool"), timeout.get("connect"), timeout.get("read"))
        found = self._timeouts.get(key)
        if found is None:
            found = aiohttp.ClientTimeout(
                total=None, connect=key[0], sock_connect=key[1], sock_read=key[2]
            )
            self._timeouts[key] = found
        return found

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    """An answer's body as it arrives; the connection goes back to the pool once it is read
    whole, and is closed when the body is left unread."""

    def __init__(self, answer: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._answer = answer
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped(self._request):
            async for part in self._answer.content.iter_any():
                yield part

    async def aclose(self) -> None:
        self.done(self._answer)

    @staticmethod
    def done(answer: aiohttp.ClientResponse) -> None:
        """Give the connection back when the body was read whole; else close it."""
        if answer.content.at_eof():
            answer.release()
        else:
            answer.close()


class _ReadApart(httpx.AsyncByteStream):
    """The body of an ``exchange`` answer, read apart and handed back beside the response,
    so that httpx does not read an empty one through its decoders (some 10 µs a request,
    a good part of what the API client costs above aiohttp). The response then reads as a
    streamed one whose body was never read, as ``network.read_capped`` leaves httpx's."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        return
        yield b""  # an async generator that yields nothing


_READ_APART = _ReadApart()


@contextmanager
def _mapped(request: httpx.Request) -> Iterator[None]:
    """aiohttp's errors raised as httpx's of the same meaning (the table above)."""
    try:
        yield
    except aiohttp.ClientError as err:
        kind = _kind(err)
        # A TLS failure keeps ssl's own error as the cause, for network.setup_problem.
        cause = err.__cause__ if isinstance(err, aiohttp.ClientSSLError) else err
        raise kind(str(err) or type(err).__name__, request=request) from (cause or err)


def _kind(err: aiohttp.ClientError) -> type[httpx.RequestError]:
    if isinstance(err, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout
    if isinstance(err, aiohttp.ClientConnectorError):
        return httpx.ConnectError
    if isinstance(err, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return httpx.UnsupportedProtocol
    if isinstance(err, aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout
    if isinstance(err, (aiohttp.ClientOSError, aiohttp.ClientConnectionResetError)):
        return httpx.ReadError
    return httpx.RemoteProtocolError
