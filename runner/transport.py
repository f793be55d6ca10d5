"""A lean HTTP/1.1 transport on asyncio streams: the API's requests, and downloads.

httpx's default stack (httpcore, h11, anyio streams) costs about a millisecond
of CPU per request and looks at every pooled connection for each one; a run
makes several requests per job, so that dominated a run's CPU. The API's
requests are small and answered with small bodies, so this transport writes
the request head itself and reads the answer whole, keeping a few connections
alive per origin. With ``stream=True`` (outputs) a body is read as it is iterated.

Errors follow httpx's tree, which the client relies on to tell a request that
never left (``ConnectError``, ``ConnectTimeout``) from one whose answer never
came (``RemoteProtocolError``, ``ReadError``, ``ReadTimeout``, ``WriteError``).
An idle connection is only reused while young and not closed by the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anyio
import httpx

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
IDLE_EXPIRY = 4.0  # seconds; below the usual 5 s keep-alive of servers
IDLE_EXPIRY_POST = 1.5  # a create on a stale connection would be "uncertain"
MAX_IDLE = 8
CHUNK = 1 << 16
CHUNKED = -1  # body framing: Transfer-Encoding: chunked (else a length, or None: until close)

Origin = tuple[str, str, int]

if sys.version_info >= (3, 11):
    from asyncio import timeout as _deadline  # cheaper than anyio.fail_after's scope
else:

    @contextlib.asynccontextmanager
    async def _deadline(delay: float | None) -> AsyncIterator[None]:
        with anyio.fail_after(delay):
            yield


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = field(default_factory=time.monotonic)

    def usable(self, expiry: float) -> bool:
        fresh = time.monotonic() - self.idle_since < expiry
        return fresh and not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive over asyncio streams; bodies read whole."""

    def __init__(
        self, tls: Callable[[], ssl.SSLContext] | None = None, *, stream: bool = False
    ) -> None:
        self._tls_factory = tls or ssl.create_default_context
        self._stream = stream  # bodies read as the caller iterates them (downloads)
        self._tls: ssl.SSLContext | None = None  # made on the first https connection
        self._idle: dict[Origin, list[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        origin = _origin(request.url)
        expiry = IDLE_EXPIRY_POST if request.method == "POST" else IDLE_EXPIRY
        conn = self._take(origin, expiry) or await self._connect(origin, request, timeouts)
        body = await request.aread()
        try:
            conn.writer.write(_head(request, len(body)) + body)
            if conn.writer.transport.get_write_buffer_size():
                async with _deadline(timeouts.get("write")):
                    await conn.writer.drain()
        except (OSError, TimeoutError, asyncio.TimeoutError) as err:
            conn.close()
            message = f"could not send the request ({_name(err)})"
            raise httpx.WriteError(message, request=request) from None
        try:
            # A deadline, not wait_for: no extra task per request.
            async with _deadline(timeouts.get("read")):
                status, headers, framing, keep = await _read_head(conn.reader, request.method)
                if not self._stream:
                    content = await _read_body(conn.reader, framing)
        except BaseException as err:
            conn.close()
            raise _read_failure(err, request) from None
        keep = keep and framing is not None
        if self._stream:
            stream = _Body(conn.reader, framing, timeouts.get("read"), request)
            stream.settle = lambda whole: self._settle(origin, conn, keep and whole)
            return httpx.Response(status, headers=headers, stream=stream, request=request)
        self._settle(origin, conn, keep)
        return httpx.Response(status, headers=headers, content=content, request=request)

    def _settle(self, origin: Origin, conn: _Connection, reuse: bool) -> None:
        if reuse:
            self._give_back(origin, conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    def _take(self, origin: Origin, expiry: float) -> _Connection | None:
        conns = self._idle.get(origin)
        while conns:
            conn = conns.pop()
            if conn.usable(expiry):
                return conn
            conn.close()
        return None

    def _give_back(self, origin: Origin, conn: _Connection) -> None:
        conns = self._idle.setdefault(origin, [])
        if len(conns) >= MAX_IDLE:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        conns.append(conn)

    async def _connect(
        self, origin: Origin, request: httpx.Request, timeouts: dict[str, float | None]
    ) -> _Connection:
        scheme, host, port = origin
        tls = None
        if scheme == "https":
            self._tls = self._tls or self._tls_factory()
            tls = self._tls
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=tls, limit=MAX_HEAD),
                timeouts.get("connect"),
            )
        except asyncio.TimeoutError:
            message = f"connecting to {host}:{port} timed out"
            raise httpx.ConnectTimeout(message, request=request) from None
        except (OSError, ssl.SSLError) as err:
            message = f"cannot connect to {host}:{port} ({_name(err)})"
            raise httpx.ConnectError(message, request=request) from None
        return _Connection(reader, writer)


def _origin(url: httpx.URL) -> Origin:
    port = url.port or (443 if url.scheme == "https" else 80)
    return (url.scheme, url.host, port)


def _head(request: httpx.Request, length: int) -> bytes:
    url = request.url
    target = url.raw_path.decode("ascii")
    lines = [f"{request.method} {target} HTTP/1.1"]
    seen = set()
    for name, value in request.headers.raw:
        lowered = name.lower()
        if lowered in (b"content-length", b"transfer-encoding", b"connection"):
            continue
        seen.add(lowered)
        lines.append(f"{name.decode('latin-1')}: {value.decode('latin-1')}")
    if b"host" not in seen:
        lines.append(f"Host: {url.netloc.decode('ascii')}")
    if length or request.method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_head(
    reader: asyncio.StreamReader, method: str
) -> tuple[int, list[tuple[bytes, bytes]], int | None, bool]:
    """Status, headers, body framing, and whether the connection may be reused."""
    head = await reader.readuntil(b"\r\n\r\n")  # the whole head in one read
    status_line, *lines = head[:-4].split(b"\r\n")
    version, _, rest = status_line.partition(b" ")
    status = int(rest[:3])
    headers: list[tuple[bytes, bytes]] = []
    for line in lines:
        name, _, value = line.partition(b":")
        headers.append((name.strip(), value.strip()))
    fields = {name.lower(): value for name, value in headers}
    keep = version == b"HTTP/1.1" and fields.get(b"connection", b"").lower() != b"close"
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, headers, 0, keep
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        headers = [(n, v) for n, v in headers if n.lower() != b"transfer-encoding"]
        return status, headers, CHUNKED, keep
    if b"content-length" in fields:
        return status, headers, int(fields[b"content-length"]), keep
    return status, headers, None, False  # until the server closes


async def _read_body(reader: asyncio.StreamReader, framing: int | None) -> bytes:
    """A whole body, at most MAX_BODY bytes."""
    if framing == CHUNKED:
        parts: list[bytes] = []
        async for part in _chunks(reader):
            parts.append(part)
            if sum(map(len, parts)) > MAX_BODY:
                raise _TooLarge
        return b"".join(parts)
    if framing is not None and framing > MAX_BODY:
        raise _TooLarge
    content = await (reader.read() if framing is None else reader.readexactly(framing))
    if len(content) > MAX_BODY:
        raise _TooLarge
    return content


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The data of a chunked body, chunk by chunk (each at most MAX_BODY)."""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return
        if size > MAX_BODY:
            raise _TooLarge
        yield await reader.readexactly(size)
        await reader.readexactly(2)


class _Body(httpx.AsyncByteStream):
    """A body read from the connection as it is iterated; the connection is
    reused only once the body was read to its end (``settle(True)``)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        framing: int | None,
        timeout: float | None,
        request: httpx.Request,
    ) -> None:
        self._reader, self._framing, self._timeout, self._request = (
            reader,
            framing,
            timeout,
            request,
        )
        self.settle: Callable[[bool], None] = lambda whole: None
        self._settled = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        parts = _chunks(self._reader) if self._framing == CHUNKED else self._plain()
        try:
            while True:
                async with _deadline(self._timeout):
                    part = await anext(parts, None)
                if part is None:
                    break
                yield part
        except GeneratorExit:
            self._settle(False)
            raise
        except BaseException as err:
            self._settle(False)
            raise _read_failure(err, self._request) from None
        self._settle(True)

    async def _plain(self) -> AsyncIterator[bytes]:
        left = self._framing
        while left is None or left > 0:
            data = await self._reader.read(CHUNK if left is None else min(CHUNK, left))
            if not data:
                if left is None:
                    return
                raise ConnectionResetError("the body ended early")
            if left is not None:
                left -= len(data)
            yield data

    async def aclose(self) -> None:
        self._settle(False)  # not read to its end (or already settled)

    def _settle(self, whole: bool) -> None:
        if not self._settled:
            self._settled = True
            self.settle(whole)


class _TooLarge(Exception):
    pass


def _read_failure(err: BaseException, request: httpx.Request) -> BaseException:
    """The httpx error for a request that was sent and got no (complete) answer."""
    if isinstance(err, asyncio.CancelledError):
        return err
    if isinstance(err, (TimeoutError, asyncio.TimeoutError)):
        return httpx.ReadTimeout("no answer in time", request=request)
    if isinstance(err, asyncio.IncompleteReadError) and not err.partial:
        message = "Server disconnected without sending a response."
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(err, (ValueError, IndexError, asyncio.LimitOverrunError, _TooLarge)):
        return httpx.RemoteProtocolError("malformed HTTP answer", request=request)
    if isinstance(err, (OSError, asyncio.IncompleteReadError)):
        return httpx.ReadError(f"connection lost while reading ({_name(err)})", request=request)
    return err


def _name(err: BaseException) -> str:
    return type(err).__name__
