"""Downloads reach no internal address, follow few redirects, and finish in bounded time.

The suite may only reach loopback, so "public" names are made here: the test
resolves them to 127.0.0.1 for the connection, and, where a hop must pass the
guard, tells the guard (``runner.api.hosts.addresses``) they resolve to a public
address.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from runner.api import hosts
from runner.run.download import Downloader, DownloadError
from tests.factory import validate_lockfile
from tests.hostile import HostileServer, Reply, hostile_server  # noqa: F401
from tests.netguard import no_network  # noqa: F401
from tests.test_run_cli import Cli, write_manifest

PUBLIC = "cdn.public-example.com"
KEY = "sk-guard-0123456789abcdef"


@pytest.fixture
def public_names(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names under public-example.com connect to 127.0.0.1; the guard sees ``names``."""
    names: dict[str, list[str]] = {PUBLIC: ["93.184.216.34"]}
    guarded = socket.getaddrinfo  # netguard's: loopback only

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        local = name.endswith("public-example.com")
        return guarded("127.0.0.1" if local else host, *args, **kwargs)

    async def addresses(host: str, port: int) -> list[str]:
        return names.get(host) or [info[4][0] for info in getaddrinfo(host, port)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(hosts, "addresses", addresses)
    return names


def fetch(url: str, dest: Path, **options: Any) -> Any:
    async def main() -> Any:
        async with httpx.AsyncClient(timeout=5.0) as http:
            return await Downloader(http, **options).fetch(url, dest)

    return anyio.run(main)


@pytest.mark.parametrize(
    ("target", "internal"),
    [
        ("http://127.0.0.1:{port}/files/b.mp4", "127.0.0.1"),
        ("http://[::ffff:127.0.0.1]:{port}/files/b.mp4", "::ffff:7f00:1"),
        ("http://metadata.public-example.com:{port}/latest", "169.254.169.254"),
        ("http://intranet.public-example.com:{port}/files/b.mp4", "10.1.2.3"),
    ],
)
def test_redirect_to_an_internal_address_is_refused(
    tmp_path: Path,
    hostile: HostileServer,
    public_names: dict[str, list[str]],
    target: str,
    internal: str,
) -> None:
    public_names["metadata.public-example.com"] = ["93.184.216.35", "169.254.169.254"]
    public_names["intranet.public-example.com"] = ["10.1.2.3"]
    location = target.format(port=hostile.port)
    hostile.script("GET", "/files/a.mp4", Reply(302, body=b"", headers={"Location": location}))
    with pytest.raises(DownloadError, match=f"{internal} is an internal address"):
        fetch(f"http://{PUBLIC}:{hostile.port}/files/a.mp4", tmp_path / "a.mp4")
    assert [s.path for s in hostile.requests] == ["/files/a.mp4"]  # the target never asked
    assert list(tmp_path.iterdir()) == []


def test_public_host_passes_the_guard(
    tmp_path: Path, hostile: HostileServer, public_names: dict[str, list[str]]
) -> None:
    fetched = fetch(f"http://{PUBLIC}:{hostile.port}/files/a.mp4", tmp_path / "a.mp4")
    assert fetched.bytes == (tmp_path / "a.mp4").stat().st_size > 0


def test_redirect_loop_is_bounded(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.handler = lambda seen: Reply(301, body=b"", headers={"Location": "/files/loop"})
    with pytest.raises(DownloadError, match="more than 5 redirects"):
        fetch(f"{hostile.url}/files/loop", tmp_path / "a.mp4", allow_internal=True)
    assert len(hostile.requests) == 6


def test_slow_body_hits_the_overall_deadline(tmp_path: Path) -> None:
    """A byte every 50 ms never trips a 5 s read timeout; the deadline stops it."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        try:
            for _ in range(100_000):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def main() -> float:
        server = await asyncio.start_server(trickle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=5.0) as http:
            downloader = Downloader(http, deadline=0.5, allow_internal=True)
            with pytest.raises(DownloadError, match=r"not done within 0\.5s"):
                await downloader.fetch(f"http://127.0.0.1:{port}/slow.mp4", tmp_path / "a.mp4")
        server.close()
        return time.monotonic() - started

    assert asyncio.run(main()) < 3
    assert list(tmp_path.iterdir()) == []


def test_run_with_a_public_api_refuses_outputs_on_internal_hosts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    hostile: HostileServer,
    public_names: dict[str, list[str]],
) -> None:
    """The API is not on an internal host as written, so outputs may not be either."""
    del public_names[PUBLIC]  # the guard resolves it as the connection does: 127.0.0.1
    video = f"http://{PUBLIC}:{hostile.port}/files/task-0001.mp4"
    hostile.script(
        "GET", "/v1/tasks/", Reply(json=hostile.task_answer("task-0001", video_url=video))
    )
    monkeypatch.chdir(tmp_path)
    cli = Cli({"HOME": "/nonexistent", "LEMONDATA_API_KEY": KEY})
    base = f"http://api.public-example.com:{hostile.port}"
    assert cli("run", str(write_manifest(tmp_path, 1)), "--base-url", base) == 1
    assert f"refusing to fetch an output from '{PUBLIC}' (127.0.0.1 is an internal" in cli.err
    entry = validate_lockfile(tmp_path / "shots.lock.json")["jobs"]["shot0"]
    assert entry["status"] == "completed" and entry["outputs"][0]["path"] is None
    assert hostile.seen("GET", "/files/") == []
