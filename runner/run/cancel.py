"""Cancelling tasks in flight: ``DELETE /v1/tasks/{id}`` for each, recorded in the lockfile.

The provider cancels only queued tasks of some models (api/README.md,
"Endpoints"). A task it cancels is recorded ``failed`` with ``cancelled: true``
and is never resubmitted by itself (``plan`` shows it blocked; ``--force`` or a
changed request sends it again). A task it will not cancel (400
``unsupported_task_cancel``, 409 ``task_not_cancellable``) stays in flight as it
was, with the API's reason reported; so does one whose cancel got no usable
answer. The task id is kept in every case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from runner.api.client import ApiClient, CancelRefused, GaveUp, Notice
from runner.base.errors import ApiStopped
from runner.lock.lockfile import IN_FLIGHT, LockStore, utc_now
from runner.run.job_work import output_entry

CANCEL_LIMIT = 60.0  # seconds for one task's cancel, retries included
CANNOT = frozenset({"unsupported_task_cancel", "task_not_cancellable"})
MESSAGE = "cancelled with vidbatch cancel"


@dataclass
class Cancelled:
    """What a cancel did, by job key: cancelled, refused by the API (still in
    flight, with its reason), failed otherwise (with why), and finished already."""

    cancelled: dict[str, str] = field(default_factory=dict)  # key -> task id
    refused: dict[str, str] = field(default_factory=dict)  # key -> the API's reason
    failed: dict[str, str] = field(default_factory=dict)  # key -> why
    finished: dict[str, str] = field(default_factory=dict)  # key -> its final status
    stopped: ApiStopped | None = None  # the API refused the key: the rest was not tried

    @property
    def tried(self) -> int:
        return sum(map(len, (self.cancelled, self.refused, self.failed, self.finished)))


async def cancel_jobs(
    store: LockStore,
    client: ApiClient,
    keys: Iterable[str],
    *,
    concurrency: int = 4,
    notice: Notice | None = None,
) -> Cancelled:
    """Cancel the task in flight of each of ``keys`` (others are left alone)."""
    result = Cancelled()
    limiter = anyio.CapacityLimiter(max(1, concurrency))

    async def one(key: str, task_id: str) -> None:
        async with limiter:
            try:
                await _cancel(store, client, key, task_id, result, notice)
            except ApiStopped as err:
                result.stopped = result.stopped or err
                tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        for key in keys:
            entry = store.entry(key)
            if entry is not None and in_flight(entry):
                tg.start_soon(one, key, str(entry["task_id"]))
    return result


def in_flight(entry: Mapping[str, Any] | None) -> bool:
    """Whether a lockfile entry has a task that is still going (one a cancel can reach)."""
    return bool(entry and entry.get("task_id") and entry.get("status") in IN_FLIGHT)


async def _cancel(
    store: LockStore,
    client: ApiClient,
    key: str,
    task_id: str,
    result: Cancelled,
    notice: Notice | None,
) -> None:
    state = None
    try:
        with anyio.fail_after(CANCEL_LIMIT):
            state = await client.cancel(task_id, notice)
    except CancelRefused as err:
        reason = err.error.get("message", "refused")
        if err.error.get("code") in CANNOT or err.error.get("status") in (400, 409):
            result.refused[key] = reason
        else:
            result.failed[key] = reason
        return
    except GaveUp as err:
        result.failed[key] = str(err)
        return
    except TimeoutError:
        result.failed[key] = f"no answer within {CANCEL_LIMIT:g}s"
        return
    now = utc_now()
    if state is not None and state.status == "completed" and state.videos:
        # Done before the cancel reached it: a video paid for, kept.
        outputs = [output_entry(video) for video in state.videos]
        await store.update(key, status="completed", outputs=outputs, error=None, finished_at=now)
        result.finished[key] = "completed"
        return
    error = {"message": MESSAGE, "code": "cancelled"}
    if state is not None and state.error and state.error.get("message"):
        error["message"] = f"{MESSAGE}: {state.error['message']}"
    fields = {"status": "failed", "cancelled": True, "error": error, "finished_at": now}
    if state is not None and state.billing_transaction_id:
        fields["billing_transaction_id"] = state.billing_transaction_id
    await store.update(key, **fields)
    result.cancelled[key] = task_id
