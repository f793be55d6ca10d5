"""The HTTP endpoints of the sandbox, each a thin layer over ``Sandbox`` state.

Every ``/v1`` request is authorised (the prices are public: a key is checked
only when one is given), then rate limited, then may meet an
injected fault; errors are answered in the documented envelope.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from runner.sandbox import catalog, faults, listing, validation
from runner.sandbox.errors import (
    ApiError,
    DroppedConnection,
    canned,
    rate_limited,
    task_not_found,
    unauthorized,
)
from runner.sandbox.tasks import FINAL, Task
from runner.sandbox.video import render

if TYPE_CHECKING:
    from runner.sandbox.app import Sandbox

Handler = Callable[[Request], Awaitable[Response]]


def routes(sandbox: Sandbox) -> list[BaseRoute]:
    """The route table of ``sandbox``."""
    api = Api(sandbox)
    return [
        Route("/v1/videos/generations", _answering(api.create), methods=["POST"]),
        Route("/v1/tasks/{task_id}", _answering(api.poll), methods=["GET"]),
        Route("/v1/tasks/{task_id}", _answering(api.cancel), methods=["DELETE"]),
        Route("/v1/videos/generations/{task_id}", _answering(api.poll), methods=["GET"]),
        Route("/v1/models", _answering(api.models), methods=["GET"]),
        Route("/v1/models/{model}", _answering(api.model), methods=["GET"]),
        Route("/v1/models/{model}/pricing", _answering(api.model_pricing), methods=["GET"]),
        Route("/v1/pricing", _answering(api.pricing), methods=["GET"]),
        Route("/files/{task_id}/{index:int}.mp4", _answering(api.file), methods=["GET"]),
        Route("/_sandbox/record", _answering(api.record), methods=["GET"]),
    ]


def error_response(error: ApiError) -> Response:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _answering(handler: Handler) -> Handler:
    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as error:
            return error_response(error)

    return answer


class Api:
    """The handlers, bound to one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    async def create(self, request: Request) -> Response:
        sb = self.sb
        sb.counters.creates += 1
        key = self._admit(request)
        body = await _read_body(request, sb.config.max_body_bytes)
        fault = sb.dice.on_create()
        try:
            self._inject(fault, faults.DROP_BEFORE, "create_before")
        except ApiError as error:
            if error.status == 402:  # the newest ApiError says what it would have cost
                error.extra.update(listing.charge(sb.matrix, body))
            raise
        now = sb.clock()
        task = sb.make_task(key, validation.parse(body, sb.matrix), now)
        self._inject(fault, faults.DROP_AFTER, "create_after")
        if fault is not None and fault.kind == faults.TIMEOUT_AFTER:
            sb.counters.injected_errors += 1
            raise canned(504)
        return JSONResponse(self._created(task, request))

    async def poll(self, request: Request) -> Response:
        sb = self.sb
        sb.counters.polls += 1
        key = self._admit(request)
        task = self._find(request, key)
        fault = sb.dice.on_poll()
        self._inject(fault, faults.DROP, "poll")
        if task is None:
            raise self._not_found(request)
        now = sb.clock()
        answer = self._task(task, request, now)
        if fault is not None and fault.kind == faults.MALFORMED:
            sb.counters.malformed += 1
            return _garbled(answer, truncate=sb.dice.uniform() < 0.5)
        if answer["status"] in FINAL:
            sb.store.observe_final(task, now)
        return JSONResponse(answer)

    async def cancel(self, request: Request) -> Response:
        sb = self.sb
        sb.counters.cancels += 1
        key = self._admit(request)
        task = self._find(request, key)
        if task is None:
            raise self._not_found(request)
        if task.model not in catalog.CANCELLABLE:
            message = f"Tasks of {task.model} cannot be cancelled"
            raise ApiError(400, "invalid_request_error", "unsupported_task_cancel", message)
        now = sb.clock()
        if task.status(now)[0] != "pending":
            message = "Only a queued (pending) task can be cancelled"
            raise ApiError(409, "invalid_request_error", "task_not_cancellable", message)
        sb.store.cancel(task, now)
        answer = self._task(task, request, now)
        answer.update(
            poll_url=f"/v1/tasks/{task.id}",
            cancellation_status="cancelled",
            error="Task cancelled before execution",
        )
        return JSONResponse(answer)

    async def models(self, request: Request) -> Response:
        self.sb.counters.model_requests += 1
        self._admit(request)
        query = request.query_params
        body = listing.model_list(self.sb.matrix, query.get("view"), query.get("category"))
        return JSONResponse(body)

    async def model(self, request: Request) -> Response:
        return JSONResponse(listing.model_detail(self.sb.matrix, self._model(request)))

    async def model_pricing(self, request: Request) -> Response:
        model = self._model(request, public=True)
        return JSONResponse(listing.model_pricing(self.sb.matrix, model))

    async def pricing(self, request: Request) -> Response:
        self.sb.counters.model_requests += 1
        self._admit(request, public=True)
        stamp = _iso(self.sb.unix(self.sb.clock()))
        return JSONResponse(listing.pricing(self.sb.matrix, stamp))

    def _model(self, request: Request, public: bool = False) -> str:
        """The catalog's model the path names, once admitted; a 404 for another."""
        self.sb.counters.model_requests += 1
        self._admit(request, public)
        model: str = request.path_params["model"]
        if model not in self.sb.matrix:
            raise validation.unknown_model(model, self.sb.matrix, status=404)
        return model

    async def file(self, request: Request) -> Response:
        sb = self.sb
        sb.counters.file_requests += 1
        if "authorization" in request.headers:
            sb.counters.file_requests_with_authorization += 1
        query = request.query_params
        sb.signer.check(request.url.path, query.get("exp"), query.get("sig"), sb.unix(sb.clock()))
        task = sb.tasks.get(request.path_params["task_id"])
        index = request.path_params["index"]
        if task is None or task.status(sb.clock())[0] != "completed" or index >= task.outputs:
            raise ApiError(404, "not_found_error", "file_not_found", "No such file")
        spec = sb.video_spec(task, index)
        data = sb.videos.get(spec)
        if data is None:
            data = await anyio.to_thread.run_sync(render, spec)
            sb.videos.put(spec, data)
            sb.counters.files_rendered += 1
        return Response(data, media_type="video/mp4", headers={"Cache-Control": "private"})

    async def record(self, request: Request) -> Response:
        return JSONResponse(self.sb.record())

    def _admit(self, request: Request, public: bool = False) -> str:
        """The caller's key, once authorised and within the rate limit.

        ``public``: the prices, which the provider publishes to anyone; a key that
        is given must still be a good one."""
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if public and not header:
            return self._within_rate("")
        if scheme.lower() != "bearer" or not key:
            raise unauthorized("Missing or malformed Authorization header (Bearer key)")
        required = self.sb.config.required_key
        if required is not None and key != required:
            raise unauthorized("Invalid API key")
        return self._within_rate(key)

    def _within_rate(self, key: str) -> str:
        bucket = self.sb.bucket
        if bucket is not None:
            wait = bucket.take(self.sb.clock())
            if wait > 0:
                self.sb.counters.rate_limited += 1
                raise rate_limited(wait)
        return key

    def _not_found(self, request: Request) -> ApiError:
        """404 for an unknown task; 403 for another key's on ``/v1/tasks``, as the
        newest spec lists it (the legacy path lists 404 only)."""
        task_id = request.path_params["task_id"]
        error = task_not_found(task_id)
        if task_id in self.sb.tasks and request.url.path.startswith("/v1/tasks/"):
            error.status = 403
        return error

    def _find(self, request: Request, key: str) -> Task | None:
        task = self.sb.tasks.get(request.path_params["task_id"])
        if task is None or task.key != key:
            return None
        task.polls += 1
        return task

    def _inject(self, fault: faults.Fault | None, drop: str, where: str) -> None:
        """Answer an injected error now, or drop the connection if ``fault`` is ``drop``."""
        if fault is None:
            return
        if fault.kind == "error":
            self.sb.counters.injected_errors += 1
            raise canned(fault.status, retryable=self.sb.config.unavailable_retryable)
        if fault.kind == drop:
            self.sb.counters.drops[where] += 1
            raise DroppedConnection(where)

    def _created(self, task: Task, request: Request) -> dict[str, Any]:
        answer: dict[str, Any] = {"id": task.id, "task_id": task.id}
        style = self.sb.config.poll_url_style
        if style == "relative":
            answer["poll_url"] = f"/v1/tasks/{task.id}"
        elif style == "absolute":
            answer["poll_url"] = f"{str(request.base_url).rstrip('/')}/v1/tasks/{task.id}"
        elif style == "legacy":
            answer["poll_url"] = f"/v1/videos/generations/{task.id}"
        answer.update(status="pending", created=task.created_unix, model=task.model)
        return answer

    def _task(self, task: Task, request: Request, now: float) -> dict[str, Any]:
        status, progress = task.status(now)
        answer: dict[str, Any] = {
            "id": task.id,
            "task_id": task.id,
            "status": status,
            "progress": progress,
            "model": task.model,
            "operation": task.operation,
            "created": task.created_unix,
            "billing_transaction_id": billing_transaction(task),
        }
        if status == "completed":
            answer.update(self._result(task, request, now))
        elif status == "failed":
            answer["error"] = task.error or {"code": "cancelled", "message": "Task was cancelled"}
            if task.cancelled_at is not None:
                answer["cancelled"] = True
        return answer

    def _result(self, task: Task, request: Request, now: float) -> dict[str, Any]:
        base = self.sb.config.output_base_url or str(request.base_url)
        videos = []
        for index in range(task.outputs):
            spec = self.sb.video_spec(task, index)
            url = self.sb.signer.url(base, task.id, index, self.sb.unix(now))
            seconds = round(spec.seconds, 3)
            videos.append(
                {"url": url, "duration": seconds, "width": spec.width, "height": spec.height}
            )
        if task.outputs > 1:
            return {"videos": videos}
        return {"video_url": videos[0]["url"], "video": videos[0]}


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body, or a 413 once it is larger than ``limit`` bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        message = f"Request body of {size} bytes is larger than the limit of {limit} bytes"
        raise ApiError(413, "invalid_request_error", "payload_too_large", message)
    return b"".join(chunks)


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _garbled(answer: dict[str, Any], truncate: bool) -> Response:
    """A 200 whose body is not JSON: a truncated answer, or an HTML error page."""
    text = json.dumps(answer)
    if truncate:
        body = text[: len(text) // 2].encode()
    else:
        body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    return Response(body, status_code=200, media_type="application/json")


def billing_transaction(task: Task) -> str:
    """The billing transaction of ``task`` (VideoTaskResponse.billing_transaction_id)."""
    return "btx_" + task.id.removeprefix("ldtask_")
