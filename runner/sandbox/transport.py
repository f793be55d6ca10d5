"""The sandbox in process, behind a real httpx transport.

Requests go through the ASGI app as they would over a socket; a dropped
connection becomes ``httpx.RemoteProtocolError`` ("request sent, no answer"),
the same error a client sees when the served sandbox closes the connection.
"""

from __future__ import annotations

import httpx

from runner.sandbox.app import Sandbox
from runner.sandbox.errors import DroppedConnection


class SandboxTransport(httpx.AsyncBaseTransport):
    """An ``httpx.ASGITransport`` to ``sandbox.app`` that turns drops into errors."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._inner = httpx.ASGITransport(app=sandbox.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except DroppedConnection:
            message = "Server disconnected without sending a response."
            raise httpx.RemoteProtocolError(message, request=request) from None

    async def aclose(self) -> None:
        await self._inner.aclose()


def transport(sandbox: Sandbox) -> SandboxTransport:
    """An httpx transport that sends every request to ``sandbox``, in process."""
    return SandboxTransport(sandbox)
