"""What a failed request means: never sent, or sent without an answer; and the
failures of the machine's own network settings (TLS, proxy), which no retry mends.

httpx raises one tree of errors (``httpx/_exceptions.py``) whatever its
transport (``runner.api.transport`` raises aiohttp's as the httpx errors of the same
meaning); the create-retry rules read it like this::

    never sent    ConnectError, ConnectTimeout   no connection was made (a TLS
                                                 handshake is part of connecting)
                  PoolTimeout                    no connection came free
                  ProxyError                     the proxy refused the CONNECT (or
                                                 the SOCKS handshake): no tunnel
                  UnsupportedProtocol,           refused before a byte was written
                  LocalProtocolError
    sent          WriteError, WriteTimeout       part of the request may have arrived
                  ReadError, ReadTimeout,        the request went out; the answer
                  RemoteProtocolError            was cut, late or garbled
                  DecodingError, AnswerTooLarge  an answer came and cannot be used

A plain HTTP proxy forwards an http:// request and answers for the server, so
its 502 is an answer like the API's own (without an error body: uncertain).

Setup failures are reported at once with their cause, never retried: a
certificate that does not verify, a TLS handshake the server refuses, a proxy
that refuses or cannot be reached, a proxy that wants credentials (407).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterable
from urllib.parse import urlsplit

import httpx

MIB = 1 << 20
NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)
# TLS errors that mean "the peer hung up mid-handshake": transient, like a reset.
_TLS_TRANSIENT = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)
CA_HINT = "set SSL_CERT_FILE to your CA bundle"


class AnswerTooLarge(httpx.RequestError):
    """An answer's body went past the cap: it was sent, and cannot be used."""


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """A streamed answer's body, decoded, read whole; AnswerTooLarge past ``limit`` bytes.

    Whatever the framing (a length, chunks, or until the server closes), no
    more than ``limit`` bytes and one read are ever held."""
    declared = response.headers.get("content-length", "")
    return await capped(response.aiter_bytes(), declared, limit, response.request)


async def capped(
    parts: AsyncIterable[bytes], declared: str, limit: int, request: httpx.Request
) -> bytes:
    """``parts`` joined, as ``read_capped`` reads them; ``declared`` is the Content-Length."""
    too_large = AnswerTooLarge(f"the answer is larger than {limit} bytes", request=request)
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    kept: list[bytes] = []
    size = 0
    async for part in parts:
        size += len(part)
        if size > limit:
            raise too_large
        kept.append(part)
    return b"".join(kept)


def setup_problem(err: Exception, proxy: str | None = None) -> str | None:
    """What is wrong with the machine's TLS or proxy settings, else None.

    ``proxy`` is the proxy the request was routed through, if any: a request
    that could not even connect then failed at the proxy."""
    tls = _tls_cause(err)
    if isinstance(tls, ssl.SSLCertVerificationError):
        reason = tls.verify_message or tls.reason or "certificate verify failed"
        return f"TLS: certificate verify failed: {reason} ({CA_HINT})"
    if tls is not None and not isinstance(tls, _TLS_TRANSIENT):
        reason = (tls.reason or str(tls)).replace("_", " ").lower()
        return f"TLS: the handshake failed: {reason} (is the URL's scheme right?)"
    if isinstance(err, httpx.ProxyError) and not _proxy_transient(err):
        where = f" {shown_proxy(proxy)}" if proxy else ""
        if str(err).startswith("407"):
            return proxy_auth_problem(proxy)
        reason = describe(err)
        return f"the proxy{where} refused the connection: {reason} (check HTTPS_PROXY, ALL_PROXY)"
    if proxy and isinstance(err, (httpx.ConnectError, httpx.ConnectTimeout)):
        return (
            f"cannot reach the proxy {shown_proxy(proxy)}: {describe(err)} "
            "(check HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY)"
        )
    return None


def proxy_auth_problem(proxy: str | None) -> str:
    """The message for a 407 from a forwarding proxy."""
    where = f" {shown_proxy(proxy)}" if proxy else ""
    return (
        f"the proxy{where} wants credentials (HTTP 407): "
        "put them in the proxy URL, http://user:password@host:port"
    )


def describe(err: BaseException | None) -> str:
    """``err`` for a message: its kind, and what it says when it says anything."""
    if err is None:
        return "no error"
    text = str(err).strip()
    name = type(err).__name__
    return f"{name}: {text[:200]}" if text else name


def shown_proxy(url: str) -> str:
    """A proxy URL for a message, without any user:password."""
    parts = urlsplit(url)
    if parts.hostname is None:
        return "(unparsable URL)"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}"


def _proxy_transient(err: httpx.ProxyError) -> bool:
    """A proxy's 502/503/504 to a CONNECT: it could not reach the API this time."""
    return str(err)[:3] in ("502", "503", "504")


def _tls_cause(err: BaseException) -> ssl.SSLError | None:
    """The ssl error behind ``err`` (httpx wraps httpcore's, which wraps ssl's)."""
    seen: BaseException | None = err
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
