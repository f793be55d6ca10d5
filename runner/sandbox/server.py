"""Serving a sandbox over real HTTP with uvicorn, on loopback by default.

A dropped connection (an injected fault) closes the socket without a single
byte of answer, which is what a client sees when a server or proxy dies
mid-request. This reaches into uvicorn's h11 protocol (the ``send`` callable is
bound to the request cycle, which holds the asyncio transport); served any
other way, a drop becomes a 500.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import Receive, Scope, Send

from runner.sandbox.app import Sandbox, SandboxApp
from runner.sandbox.config import SandboxConfig
from runner.sandbox.errors import DroppedConnection


class _Dropping:
    """Wraps the app for uvicorn: a ``DroppedConnection`` closes the connection."""

    def __init__(self, app: SandboxApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except DroppedConnection:
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if not isinstance(transport, asyncio.Transport):
                raise
            transport.close()
            # Let the protocol learn the connection is gone, so that uvicorn
            # neither answers 500 nor logs a request that "returned no response".
            await asyncio.sleep(0)
            await asyncio.sleep(0)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_ready()


def serve(
    target: Sandbox | SandboxConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``target`` on ``host:port`` until interrupted (port 0: a free port).

    ``on_ready`` is called with the base URL once the server accepts connections.
    """
    sock = _bind(host, port)
    url = base_url(sock)
    server = _server(_sandbox(target), lambda: on_ready(url) if on_ready else None)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


@contextmanager
def background(
    target: Sandbox | SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Serve ``target`` in a thread for the duration of the block; yields the base URL."""
    sock = _bind(host, port)
    ready = threading.Event()
    server = _server(_sandbox(target), ready.set)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        if not ready.wait(timeout=30):
            raise RuntimeError("the sandbox server did not start")
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def base_url(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _sandbox(target: Sandbox | SandboxConfig | None) -> Sandbox:
    return target if isinstance(target, Sandbox) else Sandbox(target)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and
    # without it every kept-alive answer waits 40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _server(sandbox: Sandbox, on_ready: Callable[[], None]) -> _Server:
    config = uvicorn.Config(
        _Dropping(sandbox.app),
        http="h11",
        loop="asyncio",
        lifespan="off",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        date_header=False,
        backlog=4096,
        timeout_graceful_shutdown=2,
        # Longer than any client pool keeps an idle connection (httpx: 5 s), so the
        # client always closes first: no request races a server-side close.
        timeout_keep_alive=75,
    )
    return _Server(config, on_ready)
