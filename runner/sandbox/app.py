"""The sandbox: its state (tasks, counters, faults) and the ASGI app serving it.

``Sandbox(config).app`` (or ``create_app(config)``) is a plain ASGI application;
``app.sandbox`` reaches the state behind it. Time comes from an injectable
monotonic clock, so tests can move it by hand.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.routing import Router
from starlette.types import Message, Receive, Scope, Send

from runner.catalog import models
from runner.catalog.models import ModelMatrix
from runner.sandbox import catalog
from runner.sandbox.config import SandboxConfig
from runner.sandbox.endpoints import error_response, routes
from runner.sandbox.errors import ApiError, DroppedConnection
from runner.sandbox.faults import Dice, TokenBucket
from runner.sandbox.record import Counters
from runner.sandbox.tasks import Task, TaskStore, record_of
from runner.sandbox.urls import UrlSigner
from runner.sandbox.validation import CreateRequest
from runner.sandbox.video import VideoCache, VideoSpec, frame_size

FAILED = {"code": "generation_failed", "message": "Video generation failed upstream"}


class Sandbox:
    """One LemonData-compatible sandbox: tasks, counters, faults, and ``app``."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        matrix: ModelMatrix | None = None,
    ) -> None:
        self.config = config or SandboxConfig()
        self.clock = clock
        self.matrix = matrix or models.builtin()
        self.origin = clock()
        self.origin_unix = time.time()
        self.store = TaskStore()
        self.counters = Counters()
        self.dice = Dice(self.config)
        rate = self.config.rate_limit
        burst = self.config.rate_burst or max(1.0, rate or 1.0)
        self.bucket = None if rate is None else TokenBucket(rate, burst, self.origin)
        self.signer = UrlSigner(secrets.token_bytes(32), self.config.url_ttl)
        self.videos = VideoCache(self.config.video_cache_size)
        self.app = SandboxApp(self)

    @property
    def tasks(self) -> dict[str, Task]:
        return self.store.tasks

    def unix(self, now: float) -> float:
        """Clock time ``now`` as Unix time."""
        return self.origin_unix + (now - self.origin)

    def make_task(self, key: str, request: CreateRequest, now: float) -> Task:
        """A new task for ``request``, made by ``key``, with its life decided now."""
        task_id = "ldtask_" + secrets.token_hex(16)
        canonical = request.canonical()
        # Without a seed the real API picks one: the output differs per task.
        salt = b"" if "seed" in request.fields else task_id.encode()
        duration = self._duration(request.model, canonical)
        task = Task(
            id=task_id,
            key=key,
            model=request.model,
            operation=request.operation,
            created_unix=int(self.unix(now)),
            created=now,
            queued=duration * self.config.queue_share,
            duration=duration,
            error=self._failure(request),
            outputs=2 if self.dice.chance(self.config.multi_video_rate) else 1,
            digest=hashlib.sha256(canonical + salt).digest(),
            aspect_ratio=request.fields.get("aspect_ratio"),
            video_seconds=self._video_seconds(request),
        )
        self.store.add(task)
        self.counters.tasks_made += 1
        return task

    def video_spec(self, task: Task, index: int) -> VideoSpec:
        """What output ``index`` of ``task`` shows."""
        width, height = frame_size(task.aspect_ratio)
        fps = self.config.video_fps
        frames = max(1, round(task.video_seconds * fps))
        digest = hashlib.sha256(task.digest + bytes([index])).digest()
        return VideoSpec(digest=digest, width=width, height=height, frames=frames, fps=fps)

    def record(self) -> dict[str, Any]:
        """Every task's times (seconds since start) and the counters, as JSON data."""
        now = self.clock()
        counters = self.counters.as_json()
        counters["in_flight"] = self.store.in_flight(now)
        counters["max_in_flight"] = self.store.max_in_flight
        counters["unobserved"] = self.store.unobserved
        counters["max_unobserved"] = self.store.max_unobserved
        return {
            "started_unix": round(self.origin_unix, 3),
            "elapsed": round(now - self.origin, 6),
            "counters": counters,
            "tasks": [record_of(task, self.origin) for task in self.store.tasks.values()],
        }

    def _duration(self, model: str, canonical: bytes) -> float:
        low, high = self.config.task_seconds or catalog.profile(model).seconds
        draw = int.from_bytes(hashlib.sha256(b"duration:" + canonical).digest()[:8], "big")
        seconds = low + (high - low) * draw / 2**64
        return seconds if self.config.task_seconds else seconds / self.config.speed

    def _failure(self, request: CreateRequest) -> dict[str, str] | None:
        marker = self.config.fail_prompt_marker
        if marker and marker in request.prompt:
            return dict(FAILED)
        return dict(FAILED) if self.dice.chance(self.config.fail_rate) else None

    def _video_seconds(self, request: CreateRequest) -> float:
        duration = request.fields.get("duration")
        if duration is None:
            duration = int(catalog.profile(request.model).durations[0])
        # The file is a fifth of the asked length (5 s -> 1 s), capped: cheap to make.
        return float(min(self.config.video_max_seconds, duration / 5))


class SandboxApp:
    """The ASGI application of a sandbox; counts answers by status."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.router = Router(routes(sandbox), default=_not_found)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.router(scope, receive, send)
            return
        counters = self.sandbox.counters
        counters.requests += 1

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                counters.statuses[str(message["status"])] += 1
            await send(message)

        try:
            await self.router(scope, receive, counting)
        except DroppedConnection:
            counters.statuses["dropped"] += 1
            raise


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    error = ApiError(404, "not_found_error", "not_found", f"No route for {scope['path']}")
    await error_response(error)(scope, receive, send)


def create_app(config: SandboxConfig | None = None) -> SandboxApp:
    """A new sandbox's ASGI app; its state is ``app.sandbox``."""
    return Sandbox(config).app
