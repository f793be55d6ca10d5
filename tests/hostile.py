"""A scriptable hostile HTTP server on loopback: what vidbatch does with odd answers.

Unscripted, it answers like the LemonData API at its plainest: a create makes
task ``task-0001`` (``poll_url`` /v1/tasks/task-0001), a poll says the task
completed with one video at ``/files/<id>.mp4`` on the same server, and the
file is served. A scenario scripts, per request, what comes back instead::

    hostile.script("POST", "/v1/videos/generations", Reply(json={...}))
    hostile.script("GET", "/v1/tasks/", Reply(404, json=...), Reply(json=...))
    hostile.script("GET", "/files/", Raw(b"HTTP/1.1 103 Early Hints\\r\\n\\r\\n..."))
    hostile.handler = lambda seen: ...   # full control: a Reply, a Raw, or None

Replies scripted for a route (a path ending in ``/`` matches every path under
it) are used one per matching request, in order; when they run out, the plain
answer applies again. ``Reply`` sends a status, headers and a body: ``json`` is
dumped as given (NaN and Infinity included), ``body`` is sent as it is.
``Raw`` writes its bytes to the socket untouched (1xx answers, bad framing,
half answers) and then closes the connection, or resets it with ``reset=True``.

Every request is kept in ``requests``, as ``Seen``. The server binds 127.0.0.1
only; the ``hostile`` fixture (import ``hostile_server`` into a test module)
starts one per test.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

CREATE_PATH = "/v1/videos/generations"
TASKS_PATH = "/v1/tasks/"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8  # not a real video; bytes will do
_UNSET: Any = object()


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: ``status``, ``headers``, and ``json`` (dumped) or ``body`` (as is)."""

    status: int = 200
    json: Any = _UNSET
    body: bytes | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    close: bool = False  # close the connection after this answer

    def payload(self) -> tuple[bytes, str]:
        """The body bytes and their content type."""
        if self.json is not _UNSET:
            return json.dumps(self.json).encode("utf-8"), "application/json"
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), "application/json"
        return self.body or b"", "application/octet-stream"


@dataclass(frozen=True)
class Raw:
    """Bytes written to the socket as they are; then the connection is closed (or reset)."""

    data: bytes
    delay: float = 0.0
    reset: bool = False


@dataclass(frozen=True)
class Seen:
    """One request the server read."""

    method: str
    path: str  # with the query string
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    at: float  # time.monotonic() when it arrived
    peer: int  # the client's port: requests on one connection share it

    def json(self) -> Any:
        return json.loads(self.body)


Answer = Reply | Raw
Handler = Callable[[Seen], Answer | None]


class HostileServer:
    """A loopback HTTP server that answers as each scenario scripts it."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.handler: Handler | None = None
        self.tasks: list[str] = []  # task ids made by plain creates, in order
        self.errors: list[BaseException] = []  # raised by a scenario's handler: a test bug
        self._scripts: dict[tuple[str, str], deque[Answer]] = {}
        self._lock = threading.Lock()
        self._http = _Server(("127.0.0.1", 0), _Handler)
        self._http.owner = self
        self.port = self._http.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    def script(self, method: str, path: str, *answers: Answer) -> None:
        """Queue ``answers`` for requests to ``path`` (a prefix when it ends in ``/``)."""
        with self._lock:
            self._scripts.setdefault((method.upper(), path), deque()).extend(answers)

    def seen(self, method: str | None = None, path: str = "") -> list[Seen]:
        """The requests seen, optionally only those with ``method`` under ``path``."""
        with self._lock:
            found = list(self.requests)
        return [
            s for s in found if (method is None or s.method == method) and s.path.startswith(path)
        ]

    def task_answer(self, task_id: str, **fields: Any) -> dict[str, Any]:
        """A completed task's poll answer, with ``fields`` changed."""
        answer: dict[str, Any] = {
            "id": task_id,
            "task_id": task_id,
            "status": "completed",
            "progress": 100,
            "video_url": f"{self.url}/files/{task_id}.mp4",
        }
        answer.update(fields)
        return answer

    def answer(self, seen: Seen) -> Answer:
        """What to send back for ``seen``: the handler, then the scripts, then the plain API."""
        with self._lock:
            self.requests.append(seen)
        if self.handler is not None:
            try:
                handled = self.handler(seen)
            except BaseException as err:  # kept for the fixture to report: else only a hang-up
                self.errors.append(err)
                raise
            if handled is not None:
                return handled
        scripted = self._scripted(seen)
        return scripted if scripted is not None else self._plain(seen)

    def _scripted(self, seen: Seen) -> Answer | None:
        path = seen.path.split("?", 1)[0]
        with self._lock:
            for (method, route), queue in self._scripts.items():
                matches = path.startswith(route) if route.endswith("/") else path == route
                if method == seen.method and matches and queue:
                    return queue.popleft()
        return None

    def _plain(self, seen: Seen) -> Answer:
        path = seen.path.split("?", 1)[0]
        if seen.method == "POST" and path == CREATE_PATH:
            with self._lock:
                task_id = f"task-{len(self.tasks) + 1:04d}"
                self.tasks.append(task_id)
            poll_url = TASKS_PATH + task_id
            return Reply(
                json={"id": task_id, "task_id": task_id, "poll_url": poll_url, "status": "pending"}
            )
        if seen.method == "GET" and path.startswith((TASKS_PATH, CREATE_PATH + "/")):
            task_id = path.rsplit("/", 1)[1]
            if task_id in self.tasks:
                return Reply(json=self.task_answer(task_id))
            return Reply(404, json=not_found(task_id))
        if seen.method == "GET" and path.startswith("/files/"):
            return Reply(body=VIDEO, headers={"Content-Type": "video/mp4"})
        return Reply(404, json={"error": {"message": f"no route {path}", "code": "not_found"}})


def not_found(task_id: str) -> dict[str, Any]:
    """The API's answer for an unknown task (api/README.md, "Task status")."""
    return {
        "error": {
            "message": f"Task {task_id} not found",
            "type": "invalid_request_error",
            "code": "async_task_not_found",
        }
    }


def api_error(message: str, code: str = "server_error", **fields: Any) -> dict[str, Any]:
    """An error body in the API's shape."""
    return {"error": {"message": message, "type": "api_error", "code": code, **fields}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a client's idle keep-alive connection must not hold shutdown
    owner: HostileServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-answer is the point of many scenarios


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle keep-alive connection is closed after this
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            time.monotonic(),
            self.client_address[1],
        )
        answer = self.server.owner.answer(seen)
        if answer.delay:
            time.sleep(answer.delay)
        if isinstance(answer, Raw):
            self._raw(answer)
            return
        data, content_type = answer.payload()
        self.send_response(answer.status)
        names = {k.lower() for k in answer.headers}
        if "content-type" not in names:
            self.send_header("Content-Type", content_type)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(data)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def _raw(self, answer: Raw) -> None:
        self.close_connection = True
        self.wfile.write(answer.data)
        self.wfile.flush()
        if answer.reset:  # RST instead of FIN: linger on, zero seconds
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.fixture(name="hostile")
def hostile_server() -> Iterator[HostileServer]:
    """A hostile server on 127.0.0.1 for one test (import ``hostile_server`` to use it)."""
    with HostileServer() as server:
        yield server
    assert not server.errors, f"the scenario's handler raised: {server.errors[0]!r}"


def serve_tls(server: HostileServer, context: Any) -> None:
    """Make ``server`` speak HTTPS with ``context`` (an ``ssl.SSLContext`` for the
    server side); call it before starting the server. ``url`` becomes https://."""
    server._http.socket = context.wrap_socket(server._http.socket, server_side=True)
    server.url = f"https://127.0.0.1:{server.port}"
