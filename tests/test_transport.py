"""The lean HTTP/1.1 transport against tiny loopback servers of the test's own."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import httpx
import pytest

from runner.transport import LeanTransport
from tests.netguard import no_network  # noqa: F401

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


def serve(handler: Handler, calls: Callable[[str], Awaitable[object]]) -> object:
    writers: list[asyncio.StreamWriter] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    async def main() -> object:
        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await calls(f"http://127.0.0.1:{port}")
        finally:
            server.close()
            for writer in writers:
                writer.close()
            await asyncio.sleep(0)

    return asyncio.run(main())


def test_keep_alive_and_chunked_answers() -> None:
    connections: list[int] = []
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                seen.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                break
            if len(seen) % 2:
                writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"a": true}')
            else:
                body = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                writer.write(body + b'4\r\n{"b"\r\n5\r\n: 12}\r\n0\r\n\r\n')
            await writer.drain()
        writer.close()

    async def calls(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=LeanTransport()) as client:
            one = await client.post(f"{url}/v1/x", json={"k": 1}, headers={"Authorization": "B"})
            two = await client.get(f"{url}/v1/tasks/a?b=1")
            return [one, two]

    one, two = serve(handler, calls)  # type: ignore[misc]
    assert (one.status_code, one.json()) == (200, {"a": True})
    assert (two.status_code, two.json()) == (201, {"b": 12})
    assert connections == [1]
    assert seen[0].startswith(b"POST /v1/x HTTP/1.1\r\n")
    head, _, body = seen[0].partition(b"\r\n\r\n")
    assert b"Content-Length: %d\r\n" % len(body) in head + b"\r\n" and body == b'{"k":1}'
    assert b"Authorization: B\r\n" in seen[0]
    assert seen[1].startswith(b"GET /v1/tasks/a?b=1 HTTP/1.1\r\n")


def test_close_without_answer_is_a_remote_protocol_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    async def calls(url: str) -> None:
        async with httpx.AsyncClient(transport=LeanTransport()) as client:
            await client.post(f"{url}/v1/videos/generations", json={})

    with pytest.raises(httpx.RemoteProtocolError):
        serve(handler, calls)


def test_cut_answer_is_a_read_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"par')
        await writer.drain()
        writer.close()

    async def calls(url: str) -> None:
        async with httpx.AsyncClient(transport=LeanTransport()) as client:
            await client.get(f"{url}/v1/tasks/x")

    with pytest.raises(httpx.ReadError):
        serve(handler, calls)


def test_slow_answer_is_a_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async def calls(url: str) -> None:
        timeout = httpx.Timeout(5.0, read=0.05)
        async with httpx.AsyncClient(transport=LeanTransport(), timeout=timeout) as client:
            await client.get(f"{url}/v1/tasks/x")

    with pytest.raises(httpx.ReadTimeout):
        serve(handler, calls)


def test_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main() -> None:
        async with httpx.AsyncClient(transport=LeanTransport()) as client:
            await client.get(f"http://127.0.0.1:{port}/")

    with pytest.raises(httpx.ConnectError):
        asyncio.run(main())


def test_connection_closed_by_server_while_idle_is_not_reused() -> None:
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()  # closes after one answer, without saying so

    async def calls(url: str) -> list[int]:
        async with httpx.AsyncClient(transport=LeanTransport()) as client:
            first = await client.post(f"{url}/a", json={})
            await asyncio.sleep(0.05)
            second = await client.post(f"{url}/b", json={})
            return [first.status_code, second.status_code]

    assert serve(handler, calls) == [200, 200]
    assert connections == [1, 1]


BIG = bytes(range(256)) * 1024  # 256 KiB: several reads


def test_streamed_bodies_reuse_the_connection_only_when_read_to_the_end() -> None:
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                request = await read_request(reader)
            except asyncio.IncompleteReadError:
                break
            if b"/chunked" in request:
                half = len(BIG) // 2
                parts = [BIG[:half], BIG[half:]]
                body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG) + BIG)
            await writer.drain()

    async def calls(url: str) -> list[bytes]:
        got: list[bytes] = []
        async with httpx.AsyncClient(transport=LeanTransport(stream=True)) as client:
            for path in ("/a", "/chunked", "/b"):  # all read whole: one connection
                async with client.stream("GET", url + path) as response:
                    got.append(b"".join([chunk async for chunk in response.aiter_raw()]))
            async with client.stream("GET", url + "/c") as response:
                await response.aiter_raw().__anext__()  # left unread: not reused
            async with client.stream("GET", url + "/d") as response:
                got.append(await response.aread())
        return got

    assert serve(handler, calls) == [BIG, BIG, BIG, BIG]
    assert connections == [1, 1]


def test_streamed_body_cut_short_is_a_read_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG) + BIG[:1000])
        await writer.drain()
        writer.close()

    async def calls(url: str) -> None:
        transport = LeanTransport(stream=True)
        async with (
            httpx.AsyncClient(transport=transport) as client,
            client.stream("GET", url + "/a") as response,
        ):
            await response.aread()

    with pytest.raises(httpx.ReadError):
        serve(handler, calls)
