"""Running the engine in process against the sandbox, recording every request."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx

from runner.api.client import ApiClient, Backoff
from runner.api.ratelimit import RateLimiter
from runner.manifest.job import Manifest
from runner.run.download import Downloader
from runner.run.engine import Engine, Outcome
from runner.run.events import Event, NullReporter
from runner.run.plan import PlanOptions
from runner.run.session import Overrides, execute, open_targets, shared_limits
from runner.sandbox import Sandbox, SandboxConfig, transport

KEY = "sk-test-0123456789abcdef"
BASE = "http://api.sandbox.test"
CDN = "http://cdn.sandbox.test"
FAST = Backoff(base=0.005, cap=0.02, attempts=8)


@dataclass
class Seen:
    method: str
    url: str
    authorization: str | None
    body: dict[str, object] | None = None


class Recording(httpx.AsyncBaseTransport):
    """Delegates to ``inner``, keeping every request it sees."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[Seen] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.method == "POST" else None
        auth = request.headers.get("authorization")
        self.seen.append(Seen(request.method, str(request.url), auth, body))
        return await self.inner.handle_async_request(request)


class Interrupting(NullReporter):
    """Keeps events; after ``after`` submissions, interrupts the engine (a Ctrl-C)."""

    def __init__(self, after: int | None) -> None:
        super().__init__()
        self.after = after
        self.engine: Engine | None = None

    def emit(self, event: Event) -> None:
        super().emit(event)
        submitted = sum(1 for e in self.events if e.kind == "submitted")
        if event.kind == "submitted" and submitted == self.after and self.engine:
            self.engine.interrupt()


@dataclass
class Result:
    sandbox: Sandbox
    outcome: Outcome
    reporter: NullReporter
    api: Recording
    files: Recording
    engine: Engine
    polled: list[str] = field(default_factory=list)

    @property
    def creates(self) -> int:
        return self.sandbox.counters.creates

    def sent_bodies(self) -> list[dict[str, object]]:
        return [s.body for s in self.api.seen if s.body is not None]

    def poll_urls(self) -> list[str]:
        return [s.url for s in self.api.seen if s.method == "GET"]


def sandbox_for(**settings: object) -> Sandbox:
    settings.setdefault("output_base_url", CDN)
    return Sandbox(SandboxConfig(**settings))  # type: ignore[arg-type]


def run_engine(
    manifests: Sequence[Manifest],
    sandbox: Sandbox,
    *,
    options: PlanOptions | None = None,
    overrides: Overrides | None = None,
    download: bool = True,
    backoff: Backoff = FAST,
    key: str = KEY,
    interrupt_after: int | None = None,
) -> Result:
    options = options or PlanOptions(download=download)
    targets = open_targets(manifests, options, overrides or Overrides())
    concurrency, rate = shared_limits(targets)
    api = Recording(transport(sandbox))
    files = Recording(transport(sandbox))
    reporter = Interrupting(interrupt_after)

    async def main() -> tuple[Outcome, Engine]:
        async with (
            httpx.AsyncClient(transport=api) as http,
            httpx.AsyncClient(transport=files) as raw,
        ):
            client = ApiClient(
                http, base_url=BASE, api_key=key, limiter=RateLimiter(rate), backoff=backoff
            )
            engine = Engine(
                client,
                Downloader(raw, allow_internal=True) if download else None,
                concurrency=concurrency,
                reporter=reporter,
            )
            reporter.engine = engine
            return await execute(engine, targets), engine

    outcome, engine = anyio.run(main)
    return Result(sandbox, outcome, reporter, api, files, engine)


def statuses(lock: Path) -> dict[str, str]:
    from tests.factory import validate_lockfile

    doc = validate_lockfile(lock)
    return {key: entry["status"] for key, entry in doc["jobs"].items()}
