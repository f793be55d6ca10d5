"""What happens to one job: submit it, poll it to a final status, fetch its outputs.

Every step is recorded through the lockfile's journal before anything depends on
it: the intent before the create is sent, the task id and poll_url (inside the
same cancel-shield as the create itself) as soon as they arrive, the final
status, each downloaded file.
"""

from __future__ import annotations

import calendar
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from runner.api.client import ApiClient, CreateUncertain, GaveUp, JobRejected, KeyRefused, NoBalance
from runner.api.responses import Created, TaskState, Video
from runner.base.errors import ApiStopped, WriteError
from runner.catalog.costs import Estimate
from runner.lock.lockfile import UNCERTAIN_MESSAGE, LockStore, intent_entry, utc_now
from runner.manifest.job import ChangedInputError, Job, Manifest, RunSettings
from runner.manifest.outputs import outside
from runner.run.budget import Costing
from runner.run.download import Downloader, DownloadError, Fetched, UrlExpired
from runner.run.events import Event
from runner.run.plan import missing_outputs, seed_for
from runner.run.polling import PollPlan, Starts

REFRESHES = 3


class HeldByAnotherJob(Exception):
    """A create answered with a task id that another job of the lockfile holds."""


@dataclass
class Stop:
    """Why a run stops early, shared by every job of the run."""

    interrupted: bool = False
    stopped: ApiStopped | None = None
    no_balance: bool = False
    cancel_run: Callable[[], None] | None = None
    write_failed: WriteError | None = None

    @property
    def submitting_stopped(self) -> bool:
        return (
            self.interrupted
            or self.no_balance
            or self.stopped is not None
            or self.write_failed is not None
        )

    def stop_run(self, err: ApiStopped) -> None:
        """401: stop everything now."""
        self.stopped = err
        if self.cancel_run is not None:
            self.cancel_run()

    def stop_writing(self, err: WriteError) -> None:
        """The lockfile cannot be written: nothing more may be sent or recorded."""
        self.write_failed = self.write_failed or err
        if self.cancel_run is not None:
            self.cancel_run()

    def stop_submitting(self, err: ApiStopped) -> None:
        """402: no new creates; tasks in flight are still polled."""
        self.no_balance = True
        self.stopped = self.stopped or err


@dataclass
class JobWork:
    """One job of one manifest, and everything it needs to be worked."""

    job: Job
    target_name: str
    manifest: Manifest
    store: LockStore
    settings: RunSettings
    client: ApiClient
    downloader: Downloader | None
    stop: Stop
    emit: Callable[[Event], None]
    starts: Starts | None = None  # the run's queue times for this model
    # Which other job of the run holds a task id (by default: of this lockfile).
    holder: Callable[[str], str | None] | None = None
    costing: Costing | None = None  # the job's estimate, and the budget it counts against
    _started: float | None = None
    _creates: int = 0  # creates this run let through the budget for this job
    _resumed: bool = False  # a task of an earlier run was followed first

    @property
    def key(self) -> str:
        return self.job.key

    @property
    def status(self) -> str:
        entry = self.store.entry(self.key)
        return str(entry["status"]) if entry else "not submitted"

    async def drive(self, resume: bool) -> str:
        """Submit (unless resuming) and follow the task; resubmit failures per retry_failed."""
        resubmits = 0
        if resume:
            self._resumed = True
            entry = self.store.entry(self.key) or {}
            self._emit("resumed", task_id=entry.get("task_id"), status=entry.get("status"))
        elif not await self.submit():
            return self.status
        while True:
            status = await self.follow()
            if status != "failed" or resubmits >= self.settings.retry_failed:
                return status
            if self.stop.submitting_stopped:
                return status
            resubmits += 1
            if not await self.submit():
                return self.status

    async def submit(self) -> bool:
        """Record the intent, send the create, record the task; False when no task came."""
        if self.stop.submitting_stopped or not self._within_budget():
            return False
        entry = self.store.entry(self.key)
        previous = dict(entry) if entry else None
        seed = seed_for(self.job, entry)
        same = entry is not None and entry.get("fingerprint") == self.job.fingerprint
        attempts = (int(entry.get("attempts", 0)) if entry and same else 0) + 1
        try:
            body = self.job.body(seed)
        except (ChangedInputError, OSError) as err:
            error = {"message": f"a local input changed or is unreadable: {err}"}
            failed = {"status": "failed", "error": error, "finished_at": utc_now()}
            self._give_back()
            await self.store.put(self.key, self._intent(seed, attempts - 1) | failed)
            self._emit("failed", message=error["message"])
            return False
        try:
            await self.store.put(self.key, self._intent(seed, attempts))
        except WriteError:
            self._give_back()
            self.store.restore(self.key, previous)  # not recorded, so not sent
            raise
        except BaseException:
            # Cancelled (Ctrl-C) while the intent was being written, perhaps after it
            # reached the disk: no create was sent, so the intent is withdrawn rather
            # than left to be read as a create in flight (uncertain) by the close.
            await self._revert(previous)
            raise
        try:
            created = await self.client.create(body, self._record_created, self._warn)
        except HeldByAnotherJob as err:
            self._emit("uncertain", message=str(err))
            return False
        except CreateUncertain as err:
            await self._finish("uncertain", {"message": f"{err}; {UNCERTAIN_MESSAGE}"})
            return False
        except JobRejected as err:
            self._give_back()  # refused with an error: no task, no bill
            await self._finish("failed", err.error)
            return False
        except KeyRefused as err:
            await self._revert(previous)
            self.stop.stop_run(err)
            return False
        except NoBalance as err:
            await self._revert(previous)
            self.stop.stop_submitting(err)
            return False
        except WriteError:
            raise  # the task may exist: its id stays in memory, for the close to save
        except BaseException:
            # Cancelled before a create was sent or between attempts (each send is
            # shielded and recorded inside its shield): nothing was made.
            await self._revert(previous)
            raise
        self._started = time.monotonic()
        self._emit("submitted", task_id=created.task_id, seed=seed, attempt=attempts)
        return True

    async def follow(self) -> str:
        """Poll the task until it is final or past its timeout; the final status."""
        entry = self.store.entry(self.key) or {}
        task_id, poll_url = str(entry["task_id"]), entry.get("poll_url")
        if self.client.is_foreign(poll_url):
            self._emit("warning", message="poll_url is on another host; polling /v1/tasks/{id}")
        started = self._started or _started_at(entry.get("submitted_at"))
        # Learn queue times only from tasks whose create time is known precisely.
        starts = self.starts if self._started is not None else None
        schedule = PollPlan(self.settings.poll_initial, self.settings.poll_max, started, starts)
        try:
            return await self._follow(task_id, poll_url, schedule)
        finally:
            self.client.forget(task_id, poll_url)

    async def _follow(self, task_id: str, poll_url: str | None, schedule: PollPlan) -> str:
        entry = self.store.entry(self.key) or {}
        deadline = time.monotonic() + self.settings.timeout
        delay, status, progress = schedule.first(), str(entry.get("status")), None
        while True:
            now = time.monotonic()
            if now >= deadline:
                limit = f"{self.settings.timeout:g}s"
                message = f"no final status within {limit}; the next run resumes polling"
                await self._finish("timed_out", {"message": message}, finished=False)
                return "timed_out"
            await anyio.sleep(min(delay, deadline - now))
            state = None
            # A poll's own retries (and any Retry-After pause) end at the deadline too.
            with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
                state = await self._poll(task_id, poll_url)
            self.store.note(self.key, last_polled_at=utc_now())  # for status; not fsynced
            if state is None:
                delay = schedule.next(time.monotonic(), None)
                continue
            if state.status == "completed" and state.videos:
                await self._complete(state)
                return "completed"
            if state.status == "failed":
                error = state.error or {"message": "failed"}
                await self._finish("failed", error, more=_billing(state) | _cancelled(state))
                return "failed"
            if state.status == "processing" and status != "processing":
                status = "processing"  # not worth an fsync: a crash loses nothing by it
                self.store.note(self.key, status=status)
            if state.progress is not None and state.progress != progress:
                progress = state.progress
                self._emit("progress", progress=progress)
            delay = schedule.next(time.monotonic(), state.progress)

    async def check(self, limit: float) -> str:
        """One poll of the task in flight, recorded (a detached run); the status.

        The poll's retries end after ``limit`` seconds; without an answer the
        entry is left as it was.
        """
        entry = self.store.entry(self.key) or {}
        task_id, poll_url = str(entry["task_id"]), entry.get("poll_url")
        self._emit("resumed", task_id=task_id, status=entry.get("status"))
        state = None
        try:
            with anyio.move_on_after(limit):
                state = await self._poll(task_id, poll_url)
        finally:
            self.client.forget(task_id, poll_url)
        polled = {"last_polled_at": utc_now()}
        if state is not None and state.status == "completed" and state.videos:
            await self._complete(state, **polled)
        elif state is not None and state.status == "failed":
            error = state.error or {"message": "failed"}
            await self._finish("failed", error, more=_billing(state) | polled | _cancelled(state))
        elif state is not None:  # pending or processing
            await self.store.update(self.key, status=state.status, **polled)
        return self.status

    async def download(self) -> None:
        """Fetch every output of a completed job that is not on disk yet."""
        entry = self.store.entry(self.key)
        if self.downloader is None or not entry or entry.get("status") != "completed":
            return
        folder = self.store.path.parent
        outputs = [dict(o) for o in entry["outputs"]]
        for index in missing_outputs(entry, folder):
            dest = self.manifest.output_path(self.job, entry.get("seed"), index, len(outputs))
            if outside(dest, self.manifest.output.dir):
                message = f"not writing {dest}: a symlink in the way leads outside output.dir"
                self._emit("warning", message=message, index=index)
                continue
            fetched = await self._fetch(outputs, index, dest)
            if fetched is None:
                continue
            relative = _relative(fetched.path, folder)
            outputs[index].update(path=relative, sha256=fetched.sha256, bytes=fetched.bytes)
            # Not waited for: were it lost, the next run would fetch the file again.
            self.store.update_soon(self.key, outputs=[dict(o) for o in outputs])
            self._emit("downloaded", path=relative, bytes=fetched.bytes, index=index)

    async def _fetch(self, outputs: list[dict[str, Any]], index: int, dest: Path) -> Fetched | None:
        assert self.downloader is not None
        for _ in range(REFRESHES + 1):
            try:
                return await self.downloader.fetch(str(outputs[index]["url"]), dest)
            except UrlExpired as err:
                fresh = await self._fresh_videos()
                if fresh is None or len(fresh) <= index:
                    self._emit("warning", message=f"{err}; no fresh URL from the API")
                    return None
                for output, video in zip(outputs, fresh, strict=False):
                    output["url"] = video.url
                await self.store.update(self.key, outputs=[dict(o) for o in outputs])
            except DownloadError as err:
                self._emit("warning", message=str(err), index=index)
                return None
            except OSError as err:  # a full disk, a read-only folder: the next run fetches it
                message = f"cannot save {dest.name}: {err.strerror or err}"
                self._emit("warning", message=message, index=index)
                return None
        self._emit("warning", message="the output URL kept expiring", index=index)
        return None

    async def _fresh_videos(self) -> tuple[Video, ...] | None:
        entry = self.store.entry(self.key) or {}
        if not self.client.has_key:
            self._emit("warning", message="set LEMONDATA_API_KEY to get fresh output URLs")
            return None
        state = await self._poll(str(entry.get("task_id")), entry.get("poll_url"))
        return state.videos if state is not None and state.status == "completed" else None

    async def _poll(self, task_id: str, poll_url: str | None) -> TaskState | None:
        """One poll; None when it should simply be tried again later."""
        try:
            return await self.client.poll(task_id, poll_url, self._warn)
        except GaveUp as err:
            self._emit("warning", message=str(err))
        except JobRejected as err:
            return TaskState("failed", error=err.error)
        except NoBalance as err:
            self.stop.stop_submitting(err)
        except KeyRefused as err:
            self.stop.stop_run(err)
            await anyio.sleep_forever()  # the run is being cancelled
        return None

    async def _record_created(self, created: Created) -> None:
        """Record the task a create made, unless another job already holds its id.

        Two jobs holding one task id would both be polled, downloaded and
        reported as that one task. A server that answers a create with an id it
        gave before is confused, and the create may still have been billed: this
        job is recorded ``uncertain`` (not sent again without
        --resubmit-uncertain), with the id the API gave kept in its error, and
        the other job's entry is left as it was.
        """
        holder = self._holder(created.task_id)
        if holder is not None:
            message = (
                f"the API answered the create with task id {created.task_id}, which job "
                f"{holder} already holds; the create may have been billed. Check the task "
                "by hand; --resubmit-uncertain submits this job again"
            )
            error = {"message": message, "code": "duplicate_task_id", "task_id": created.task_id}
            finished = utc_now()
            await self.store.update(self.key, status="uncertain", error=error, finished_at=finished)
            raise HeldByAnotherJob(message)
        await self.store.update(
            self.key, task_id=created.task_id, poll_url=created.poll_url, **created.receipt
        )

    async def _complete(self, state: TaskState, **more: Any) -> None:
        outputs = [output_entry(video) for video in state.videos]
        fields: dict[str, Any] = _billing(state) | more
        # Not waited for: were it lost, the next run would poll the task again.
        self.store.update_soon(
            self.key,
            status="completed",
            finished_at=utc_now(),
            outputs=outputs,
            error=None,
            **fields,
        )
        self._emit("completed", outputs=len(outputs))

    async def _finish(
        self,
        status: str,
        error: dict[str, Any],
        finished: bool = True,
        more: dict[str, Any] | None = None,
    ) -> None:
        fields: dict[str, Any] = {"status": status, "error": error, **(more or {})}
        if finished:
            fields["finished_at"] = utc_now()
        await self.store.update(self.key, **fields)
        self._emit(status, message=error.get("message", ""))

    def _within_budget(self) -> bool:
        """Commit this create's maximum to the budget; False (and told) when it does not fit."""
        budget = self.costing.budget if self.costing is not None else None
        if budget is None or self.costing is None:
            return True
        first = self._creates == 0 and not self._resumed  # else its last task ended this run
        refused = budget.take(self.costing.where, self.key, self._estimate(), first)
        if refused is not None:
            self._emit("over_budget", message=refused)
            return False
        self._creates += 1
        return True

    def _give_back(self) -> None:
        if self.costing is not None and self.costing.budget is not None and self._creates:
            self.costing.budget.give_back(self._estimate())

    def _estimate(self) -> Estimate | None:
        return self.costing.estimate(self.key) if self.costing is not None else None

    def _intent(self, seed: int | None, attempts: int) -> dict[str, Any]:
        """The intent entry, with the estimate the create is sent under."""
        entry = intent_entry(self.job, seed, attempts)
        found = self._estimate()
        if found is not None:
            entry["estimate"] = found.as_json()
        return entry

    async def _revert(self, previous: dict[str, Any] | None) -> None:
        """Undo an intent whose create certainly made no task."""
        self._give_back()
        with anyio.CancelScope(shield=True):
            if previous is None:
                await self.store.drop([self.key])
            else:
                await self.store.put(self.key, previous)

    def _holder(self, task_id: str) -> str | None:
        if self.holder is not None:
            return self.holder(task_id)
        found = self.store.holder(task_id)
        return found if found != self.key else None

    def _warn(self, message: str) -> None:
        self._emit("warning", message=message)

    def _emit(self, kind: str, **data: Any) -> None:
        self.emit(Event(kind, self.target_name, self.key, data))


def output_entry(video: Video) -> dict[str, Any]:
    """A lockfile output for a video not yet downloaded."""
    return {
        "url": video.url,
        "path": None,
        "sha256": None,
        "bytes": None,
        "width": video.width,
        "height": video.height,
        "duration": video.duration,
    }


def _relative(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(path, folder)).as_posix()


def _started_at(stamp: Any) -> float:
    """The monotonic time matching a lockfile timestamp (for a resumed task's progress)."""
    now = time.monotonic()
    try:
        when = calendar.timegm(time.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return now
    return now - max(0.0, time.time() - when)


def _billing(state: TaskState) -> dict[str, str]:
    """The billing transaction a poll named, to record with the task's end."""
    if state.billing_transaction_id is None:
        return {}
    return {"billing_transaction_id": state.billing_transaction_id}


def _cancelled(state: TaskState) -> dict[str, bool]:
    """``cancelled: true`` for a task the API says was cancelled: never resubmitted by itself."""
    return {"cancelled": True} if state.cancelled else {}
