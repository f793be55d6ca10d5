"""The embedded LemonData-compatible sandbox: a faithful stand-in for the API.

``Sandbox(config)`` holds tasks, counters and faults; ``sandbox.app`` is its ASGI
application (``create_app(config)`` makes both and returns the app, whose
``.sandbox`` is the state). ``transport(sandbox)`` runs it in process behind
httpx; ``serve(...)`` and ``background(...)`` serve it on loopback with uvicorn.
Needs the ``sandbox`` extra (starlette, uvicorn, av, numpy).
"""

from runner.sandbox.app import Sandbox, SandboxApp, create_app
from runner.sandbox.config import SandboxConfig
from runner.sandbox.server import background, serve
from runner.sandbox.transport import SandboxTransport, transport

__all__ = [
    "Sandbox",
    "SandboxApp",
    "SandboxConfig",
    "SandboxTransport",
    "background",
    "create_app",
    "serve",
    "transport",
]
