"""runner.api.transport against raw loopback servers: what each failure reads as.

A create the server may have read must raise an error the create-retry rules
read as sent (``network.NEVER_SENT`` does not hold it), and one that certainly
never left must raise one they read as never sent. Proxies stay with httpx's
own stack (``clients.proxied``); tests/test_proxies_and_tls.py runs them.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import aiohttp.abc
import httpx
import pytest

from runner.api import network
from runner.api.transport import AiohttpTransport, GlobalOnlyResolver
from runner.commands import clients
from tests.netguard import no_network  # noqa: F401
from tests.test_http_answers import answer, read_request

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
TIMEOUT = httpx.Timeout(5.0)


def sent_to(
    handler: Handler | None,
    send: Callable[[httpx.AsyncClient, AiohttpTransport, str], Awaitable[Any]],
    connections: int = 4,
    global_only: bool = False,
) -> Any:
    """``send`` through httpx on AiohttpTransport, or the transport's ``exchange``, to a
    raw server (none: a closed port).

    Returns what ``send`` returned, or the httpx error it raised."""

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            assert handler is not None
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main() -> Any:
        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        if handler is None:
            server.close()
            await server.wait_closed()
        tls = ssl.create_default_context()
        transport = AiohttpTransport(connections, tls, 4.0, global_only)
        try:
            async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as http:
                try:
                    return await send(http, transport, f"http://127.0.0.1:{port}")
                except httpx.HTTPError as err:
                    return err
        finally:
            server.close()

    return asyncio.run(main())


def create(http: httpx.AsyncClient, _: AiohttpTransport, url: str) -> Awaitable[httpx.Response]:
    """A create through httpx's client, on the transport (as downloads are sent)."""
    return http.post(f"{url}/v1/videos/generations", json={"model": "m", "prompt": "p"})


async def create_direct(_: httpx.AsyncClient, transport: AiohttpTransport, url: str) -> Any:
    """A create through the transport's ``exchange`` (as the API client sends)."""
    request = httpx.Request(
        "POST",
        f"{url}/v1/videos/generations",
        json={"model": "m", "prompt": "p"},
        extensions={"timeout": TIMEOUT.as_dict()},
    )
    return await transport.exchange(request, 16 * network.MIB)


ROUTES = pytest.mark.parametrize("send", [create, create_direct], ids=["httpx", "direct"])


def read_then(reply: bytes, seen: list[bytes], reset: bool = False) -> Handler:
    """A server that reads one request, writes ``reply`` and closes (or resets)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(reply)
        await writer.drain()
        if reset:  # an RST, not a FIN
            linger = struct.pack("ii", 1, 0)
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            writer.transport.abort()

    return handler


@pytest.mark.parametrize(
    ("reply", "reset", "kind"),
    [
        (b"", False, httpx.RemoteProtocolError),  # closed once the create was read
        (b"", True, (httpx.ReadError, httpx.RemoteProtocolError)),  # reset once it was read
        (b"HTTP/1.1 20", False, httpx.RemoteProtocolError),  # cut in the status line
        (b"NOT HTTP AT ALL\r\n\r\n", False, httpx.RemoteProtocolError),
    ],
    ids=["closed", "reset", "cut-status", "garbled"],
)
@ROUTES
def test_a_create_the_server_read_reads_as_sent(
    reply: bytes, reset: bool, kind: Any, send: Any
) -> None:
    seen: list[bytes] = []
    error = sent_to(read_then(reply, seen, reset), send)
    assert isinstance(error, kind), repr(error)
    assert not isinstance(error, network.NEVER_SENT)
    assert len(seen) == 1 and seen[0].startswith(b"POST /v1/videos/generations")


@ROUTES
def test_a_body_cut_short_reads_as_sent(send: Any) -> None:
    seen: list[bytes] = []
    reply = b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"id": "t'
    error = sent_to(read_then(reply, seen), send)
    assert isinstance(error, httpx.RemoteProtocolError), repr(error)
    assert not isinstance(error, network.NEVER_SENT)


def test_an_answer_that_never_comes_is_a_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async def send(http: httpx.AsyncClient, _: AiohttpTransport, url: str) -> httpx.Response:
        timeout = httpx.Timeout(5.0, read=0.2)
        return await http.post(f"{url}/v1/videos/generations", json={}, timeout=timeout)

    error = sent_to(silent, send)
    assert isinstance(error, httpx.ReadTimeout), repr(error)
    assert not isinstance(error, network.NEVER_SENT)


@ROUTES
def test_a_refused_connection_reads_as_never_sent(send: Any) -> None:
    error = sent_to(None, send)
    assert isinstance(error, httpx.ConnectError), repr(error)
    assert isinstance(error, network.NEVER_SENT)
    assert network.setup_problem(error) is None  # retried, not a setup problem


def test_waiting_for_a_free_connection_too_long_reads_as_never_sent() -> None:
    seen: list[bytes] = []

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        await asyncio.sleep(1.0)
        writer.write(answer(b"{}"))
        await writer.drain()

    async def send(http: httpx.AsyncClient, transport: AiohttpTransport, url: str) -> list[Any]:
        busy = asyncio.ensure_future(create(http, transport, url))
        await asyncio.sleep(0.2)  # the one connection is taken
        pool = httpx.Timeout(5.0, pool=0.1)
        try:
            await http.post(f"{url}/v1/videos/generations", json={}, timeout=pool)
        except httpx.HTTPError as err:
            return [err, (await busy).status_code]
        raise AssertionError("the second create found a connection")

    error, first = sent_to(slow, send, connections=1)
    assert isinstance(error, httpx.ConnectTimeout), repr(error)
    assert isinstance(error, network.NEVER_SENT)
    assert first == 200 and len(seen) == 1  # only the first create reached the server


def test_another_scheme_is_refused_before_anything_is_sent() -> None:
    async def send(http: httpx.AsyncClient, _: AiohttpTransport, url: str) -> httpx.Response:
        return await http.get(url.replace("http://", "ftp://"))

    error = sent_to(None, send)
    assert isinstance(error, httpx.UnsupportedProtocol), repr(error)
    assert isinstance(error, network.NEVER_SENT)


def test_certificate_failure_names_its_cause() -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)

    async def main() -> httpx.HTTPError:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=server_tls)
        port = server.sockets[0].getsockname()[1]
        transport = AiohttpTransport(1, ssl.create_default_context(), 4.0)
        try:
            async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as http:
                with pytest.raises(httpx.ConnectError) as caught:
                    await http.get(f"https://127.0.0.1:{port}/v1/tasks/t")
                return caught.value
        finally:
            server.close()

    error = asyncio.run(main())
    assert isinstance(error, network.NEVER_SENT)
    problem = network.setup_problem(error)
    assert problem is not None and problem.startswith("TLS: certificate verify failed: ")


def test_what_is_sent_is_what_httpx_would_send() -> None:
    """No redirect followed, no header of aiohttp's own, and a gzip body decoded by httpx."""
    seen: list[bytes] = []
    body = gzip.compress(b'{"id": "t1"}')

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await read_request(reader)
            seen.append(request)
            if request.startswith(b"GET /old"):
                writer.write(b"HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n")
            else:
                head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
                writer.write(head % len(body) + body)
            await writer.drain()

    async def send(http: httpx.AsyncClient, _: AiohttpTransport, url: str) -> tuple[int, bytes]:
        moved = await http.get(f"{url}/old")
        plain = await http.get(f"{url}/new", headers={"User-Agent": "vidbatch/test"})
        return moved.status_code, plain.content

    status, content = sent_to(handler, send)
    assert (status, content) == (302, b'{"id": "t1"}')
    assert [request.split(b" ")[1] for request in seen] == [b"/old", b"/new"]
    headers = seen[1].lower()
    assert b"user-agent: vidbatch/test" in headers and b"aiohttp" not in headers


@pytest.mark.parametrize(
    ("variables", "proxied"),
    [
        ({}, False),
        ({"NO_PROXY": "*"}, False),  # NO_PROXY alone routes nothing through a proxy
        ({"HTTPS_PROXY": "http://127.0.0.1:3128"}, True),
        ({"http_proxy": "http://127.0.0.1:3128"}, True),
        ({"ALL_PROXY": "socks5://127.0.0.1:1080"}, True),  # SOCKS: httpx's stack, socksio
    ],
)
def test_any_proxy_variable_keeps_httpx_own_stack(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], proxied: bool
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert clients.proxied() is proxied


def test_the_direct_exchange_decodes_and_keeps_the_status_and_headers() -> None:
    body = gzip.compress(b'{"id": "t1"}')

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        head = b"HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nContent-Encoding: gzip\r\n"
        writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()

    async def send(_: httpx.AsyncClient, transport: AiohttpTransport, url: str) -> Any:
        request = httpx.Request("GET", f"{url}/v1/tasks/t1")
        return await transport.exchange(request, 1000)

    response, content = sent_to(handler, send)
    assert (response.status_code, response.headers["retry-after"]) == (429, "3")
    assert content == b'{"id": "t1"}'


class Rebinding(aiohttp.abc.AbstractResolver):
    """A DNS server that answers each name with the addresses given for it."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        return [
            {"hostname": host, "host": a, "port": port, "family": family, "proto": 0, "flags": 0}
            for a in self.answers[host]
        ]

    async def close(self) -> None:
        pass


def test_the_files_resolver_drops_internal_addresses() -> None:
    inner = Rebinding(
        {
            "cdn.example.test": ["127.0.0.1"],  # what a rebinding DNS says the second time
            "mixed.example.test": ["10.0.0.7", "93.184.216.34", "169.254.169.254"],
            "mapped.example.test": ["::ffff:127.0.0.1"],
        }
    )
    resolver = GlobalOnlyResolver(inner)

    async def main() -> None:
        with pytest.raises(OSError, match=r"resolves only to internal addresses \(127\.0\.0\.1\)"):
            await resolver.resolve("cdn.example.test", 443)
        kept = await resolver.resolve("mixed.example.test", 443)
        assert [one["host"] for one in kept] == ["93.184.216.34"]
        with pytest.raises(OSError, match="internal"):
            await resolver.resolve("mapped.example.test", 443)

    asyncio.run(main())


@pytest.mark.parametrize("global_only", [True, False])
def test_a_global_only_transport_never_connects_inside(global_only: bool) -> None:
    """The files client's connection itself goes only to checked addresses: a name
    for loopback is refused at connect time (the server sees nothing) unless the API
    itself is on an internal host (then global_only is off)."""
    seen: list[bytes] = []

    def fetch(http: httpx.AsyncClient, _: AiohttpTransport, url: str) -> Any:
        return http.get(url.replace("127.0.0.1", "localhost") + "/v.mp4")  # a name, resolved

    got = sent_to(read_then(answer(b"video"), seen), fetch, global_only=global_only)
    if global_only:
        assert isinstance(got, httpx.ConnectError) and seen == []
        assert "internal addresses" in str(got)
    else:
        assert isinstance(got, httpx.Response) and got.status_code == 200 and len(seen) == 1
