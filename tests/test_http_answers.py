"""The API client on its real HTTP stack against raw loopback servers: odd framing and cut answers.

Each server here writes bytes by hand, as a broken or hostile server would:
interim 1xx answers, a body without a length that never ends, a flood of tiny
chunks, a connection reset once the create was read.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.api.client import ApiClient, Backoff, CreateUncertain
from runner.api.ratelimit import RateLimiter
from runner.commands import clients
from tests.factory import validate_lockfile
from tests.hostile import HostileServer, Raw, hostile_server  # noqa: F401
from tests.netguard import no_network  # noqa: F401
from tests.test_run_cli import Cli, write_manifest

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
KEY = "sk-answers-0123456789abcdef"
MIB = 1 << 20
PROGRESS = {"first": 11, "second": 22}


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


def serve(handler: Handler, calls: Callable[[ApiClient], Awaitable[Any]]) -> Any:
    """Run ``calls`` with an ApiClient on the real stack against a raw server on loopback."""
    connections: list[asyncio.StreamWriter] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main() -> Any:
        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        direct = clients.api_transport(4, tls)  # as a run sends: aiohttp, directly
        assert direct is not None
        http = clients.api_client(4, tls, httpx.Timeout(10.0), direct)
        try:
            async with http:
                client = ApiClient(
                    http,
                    base_url=f"http://127.0.0.1:{port}",
                    api_key=KEY,
                    limiter=RateLimiter(None),
                    backoff=Backoff(base=0.001, cap=0.002, attempts=2),
                    exchange=direct.exchange,
                )
                return await calls(client), len(connections)
        finally:
            server.close()
            for writer in connections:
                writer.close()
            await asyncio.sleep(0)

    return asyncio.run(main())


def answer(body: bytes, status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)


def task(task_id: str, progress: int = 10) -> bytes:
    return json.dumps({"id": task_id, "status": "processing", "progress": progress}).encode()


async def create(client: ApiClient) -> object:
    async def record(created: object) -> None:
        pass

    return await client.create({"model": "m", "prompt": "p"}, record)


def test_early_hints_never_shift_answers_on_a_kept_alive_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await read_request(reader)
            task_id = request.split(b" ")[1].rsplit(b"/", 1)[1].decode()
            hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
            writer.write(hints + answer(task(task_id, PROGRESS[task_id])))
            await writer.drain()

    async def calls(client: ApiClient) -> list[object]:
        return [await client.poll("first", None), await client.poll("second", None)]

    (first, second), connections = serve(handler, calls)
    assert (first.progress, second.progress) == (PROGRESS["first"], PROGRESS["second"])
    assert connections == 1  # both on one kept-alive connection


def test_huge_answer_without_length_is_cut_off_unread() -> None:
    sent = [0]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[")
        block = b"0," * (MIB // 2)
        for _ in range(64):  # 64 MiB, until the server closes: no length, no chunks
            writer.write(block)
            await writer.drain()
            sent[0] += len(block)

    async def calls(client: ApiClient) -> str:
        with pytest.raises(CreateUncertain) as caught:
            await create(client)
        return str(caught.value)

    message, _ = serve(handler, calls)
    assert message == (
        "no answer to the create (AnswerTooLarge: the answer is larger than 16777216 bytes)"
    )
    assert sent[0] < 48 * MIB  # the client stopped reading, and hung up


def test_flood_of_tiny_chunks_is_read_in_bounded_time() -> None:
    body = task("t1")[:-1] + b" " * 200_000 + b"}"

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for start in range(0, len(body), 4096):
            piece = body[start : start + 4096]
            writer.write(b"".join(b"1\r\n%c\r\n" % byte for byte in piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async def calls(client: ApiClient) -> object:
        return await client.poll("t1", None)

    started = time.monotonic()
    state, _ = serve(handler, calls)
    assert state.status == "processing" and state.progress == 10
    assert time.monotonic() - started < 30  # the lean transport re-summed every chunk: O(n²)


@pytest.mark.parametrize("reset", [True, False], ids=["reset", "closed"])
def test_create_cut_off_after_it_was_read_is_uncertain_and_never_resent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hostile: HostileServer, reset: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    hostile.script("POST", "/v1/videos/generations", Raw(b"", reset=reset))
    cli = Cli({"HOME": "/nonexistent", "LEMONDATA_API_KEY": KEY})
    code = cli("run", str(write_manifest(tmp_path, 1)), "--base-url", hostile.url)
    assert code == 1, cli.err
    entry = validate_lockfile(tmp_path / "shots.lock.json")["jobs"]["shot0"]
    assert entry["status"] == "uncertain" and entry["task_id"] is None
    assert "no answer to the create" in entry["error"]["message"]
    assert len(hostile.seen("POST")) == 1  # read once, never sent again


def test_answers_and_requests_leave_no_connection_behind() -> None:
    """Every poll's connection goes back to the pool once its answer is read whole."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await read_request(reader)
            task_id = request.split(b" ")[1].rsplit(b"/", 1)[1].decode()
            writer.write(answer(task(task_id)))
            await writer.drain()

    async def calls(client: ApiClient) -> int:
        for name in ("a", "b", "c", "d"):
            await client.poll(name, None)
        return client.requests

    requests, connections = serve(handler, calls)
    assert (requests, connections) == (4, 1)
