"""The lockfile: pure data, rendered deterministically, replaced atomically.

``read`` gives the document with its journal replayed, for anyone who only looks.
``LockStore`` is what a run holds: the document in memory, an exclusive
``flock`` on ``<lockfile>.lock`` so that a second run on the same lockfile
refuses, and a ``Journal`` through which every change goes to disk before the
caller acts on it. The journal is compacted into the lockfile when the store
opens, when it closes, and whenever it grows past both 8 MiB and twice the lockfile's size.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from runner.base.errors import LockError, WriteError
from runner.base.files import fsync_dir, write_atomic
from runner.lock import journal, lockentry
from runner.manifest.job import Job

VERSION = 1
COMPACT_MIN_BYTES = 8 << 20  # a journal this long replays in well under a second
IN_FLIGHT = ("pending", "processing", "timed_out")
UNCERTAIN_MESSAGE = (
    "the create request was sent but no answer came back; the task may exist and be billed. "
    "Run with --resubmit-uncertain to submit it again"
)


def empty() -> dict[str, Any]:
    return {"version": VERSION, "jobs": {}}


def render(doc: Mapping[str, Any]) -> str:
    """The lockfile text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def journal_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".journal")


def mutex_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".lock")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read(lock_path: Path, problems: list[str] | None = None) -> dict[str, Any]:
    """The lockfile document with any journal replayed on top; read-only, no lock taken.

    Entries of the wrong shape are repaired (``runner.lock.lockentry``); ``problems``
    gets a message for each one changed.
    """
    doc = _load(lock_path)
    journal.replay(doc["jobs"], journal_path(lock_path))
    found = lockentry.repair(doc["jobs"])
    if problems is not None:
        problems.extend(found)
    return doc


def intent_entry(job: Job, seed: int | None, attempts: int) -> dict[str, Any]:
    """A fresh entry recorded just before a create is sent: pending, no task id yet."""
    return {
        "fingerprint": job.fingerprint,
        "request": job.locked_request(seed),
        "seed": seed,
        "status": "pending",
        "task_id": None,
        "poll_url": None,
        "submitted_at": utc_now(),
        "finished_at": None,
        "attempts": attempts,
        "outputs": [],
        "error": None,
    }


def is_orphan(entry: Mapping[str, Any]) -> bool:
    """An intent with no task id: the create may have been sent when the run died."""
    return entry.get("status") in ("pending", "processing") and not entry.get("task_id")


def _load(lock_path: Path) -> dict[str, Any]:
    try:
        text = lock_path.read_text("utf-8")
    except FileNotFoundError:
        return empty()
    except OSError as err:
        raise LockError(f"{lock_path}: cannot read the lockfile ({err.strerror})") from None
    try:
        doc = _parse(text)
    except ValueError as err:
        raise LockError(f"{lock_path}: not valid JSON ({err})") from None
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise LockError(f"{lock_path}: not a version {VERSION} vidbatch lockfile")
    if not isinstance(doc.get("jobs"), dict):
        raise LockError(f"{lock_path}: the 'jobs' mapping is missing")
    return doc


def _parse(text: str) -> Any:
    """The lockfile's JSON; NaN and Infinity (which older versions could write) as null."""
    try:
        return json.loads(text, parse_constant=_null)
    except ValueError:
        # Integers of 4300 digits and more (an older version kept what the API
        # sent) are refused by int(); read them as null, for the entry's repair.
        return json.loads(text, parse_constant=_null, parse_int=_bounded_int)


def _null(_constant: str) -> None:
    return None


def _bounded_int(literal: str) -> int | None:
    return int(literal) if len(literal) <= 100 else None


class LockStore:
    """A lockfile held by one run: read, changed through its journal, compacted."""

    def __init__(self, path: Path, doc: dict[str, Any], mutex_fd: int) -> None:
        self.path = path
        self.doc = doc
        self._mutex_fd = mutex_fd
        self._size = 0
        self.bytes_written = 0
        self.journal: journal.Journal
        self._holders: dict[str, str] | None = None  # task id -> job key, built when asked
        self.problems: list[str] = []  # entries repaired as the lockfile loaded

    @classmethod
    def open(cls, path: Path, manifest: str | None = None) -> LockStore:
        """Take the run lock, replay the journal, settle orphaned intents, compact.

        A lockfile that cannot be written (read-only folder, full disk) is a
        LockError here, before anything could be sent.
        """
        path = path.absolute()
        try:
            return cls._open(path, manifest)
        except (OSError, WriteError) as err:
            reason = err.strerror if isinstance(err, OSError) else str(err)
            raise LockError(f"cannot write the lockfile {path}: {reason}") from None

    @classmethod
    def _open(cls, path: Path, manifest: str | None) -> LockStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        mutex_fd = _take_mutex(path)
        try:
            problems: list[str] = []
            doc = read(path, problems)
            if manifest is not None:
                doc["manifest"] = manifest
            for entry in doc["jobs"].values():
                if is_orphan(entry):
                    entry.update(status="uncertain", error={"message": UNCERTAIN_MESSAGE})
            store = cls(path, doc, mutex_fd)
            store.problems = problems
            store._save(store._snapshot())
            journal_path(path).unlink(missing_ok=True)
            store.journal = journal.Journal(journal_path(path), store._apply)
            fsync_dir(path.parent)  # the new journal's name survives a power cut too
        except BaseException:
            _release_mutex(path, mutex_fd)
            raise
        return store

    @property
    def jobs(self) -> dict[str, Any]:
        jobs: dict[str, Any] = self.doc["jobs"]
        return jobs

    def entry(self, key: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.jobs.get(key)
        return found

    def holder(self, task_id: str) -> str | None:
        """The job whose entry holds ``task_id``, if any (an index, kept as records apply)."""
        if self._holders is None:
            self._holders = {e["task_id"]: k for k, e in self.jobs.items() if e.get("task_id")}
        key = self._holders.get(task_id)
        if key is None:
            # Every task id reaches an entry through _apply or restore, which index
            # it: one missing is held by no job (a fresh task's, on every create).
            return None
        if (self.entry(key) or {}).get("task_id") == task_id:
            return key
        # The index is only ever stale for a job whose task changed since: look once.
        return next((k for k, e in self.jobs.items() if e.get("task_id") == task_id), None)

    # Callers hand over fresh values and never change them afterwards, so the
    # records (and the entries they build) are not copied.

    async def put(self, key: str, entry: Mapping[str, Any]) -> None:
        await self._append([{"job": key, "put": dict(entry)}])

    async def update(self, key: str, **fields: Any) -> None:
        await self._append([{"job": key, "set": fields}])

    def update_soon(self, key: str, **fields: Any) -> None:
        """Journal a change without waiting for the disk: for changes a crash may
        lose safely (the next run polls the task again, or fetches the file again).
        It is written with the next durable change, or when the store compacts."""
        self.journal.queue([{"job": key, "set": fields}])

    def note(self, key: str, **fields: Any) -> None:
        """Change fields in memory only; they reach disk with the next compaction."""
        entry = self.entry(key)
        if entry is not None:
            entry.update(fields)

    async def drop(self, keys: Iterable[str]) -> None:
        await self._append([{"job": key, "drop": True} for key in keys])

    async def compact(self) -> None:
        """Fold the journal into the lockfile, atomically."""
        await self.journal.checkpoint(self._snapshot, self._save)

    async def close(self) -> None:
        """Settle orphaned intents, compact, remove the journal and release the lock.

        After a failed journal write the whole state is saved in one lockfile
        write instead; when that fails too the WriteError is raised, the lock
        released, and the journal keeps what was acknowledged.
        """
        try:
            for entry in self.jobs.values():
                if is_orphan(entry):
                    entry.update(status="uncertain", error={"message": UNCERTAIN_MESSAGE})
            if self.journal.failed is None:
                await self.compact()
            else:
                await anyio.to_thread.run_sync(self._save, self._snapshot())
            self.journal.close()
            with contextlib.suppress(FileNotFoundError):
                journal_path(self.path).unlink()
        except WriteError:
            self.release()
            raise
        _release_mutex(self.path, self._mutex_fd)

    def release(self) -> None:
        """Let go without compacting (the journal stays, and replays next time)."""
        try:
            self.journal.close()
        except WriteError:
            pass  # the journal keeps what was acknowledged; memory has the rest
        finally:
            _release_mutex(self.path, self._mutex_fd)

    def restore(self, key: str, entry: Mapping[str, Any] | None) -> None:
        """Set an entry back in memory only, after its change failed to reach disk."""
        if entry is None:
            self.jobs.pop(key, None)
        else:
            self.jobs[key] = dict(entry)
            if self._holders is not None and entry.get("task_id"):
                self._holders[entry["task_id"]] = key

    def unsaved_tasks(self) -> dict[str, str]:
        """Task ids held in memory that the files on disk do not record, by job key."""
        try:
            saved = read(self.path)["jobs"]
        except LockError:
            saved = {}
        return {
            key: str(entry["task_id"])
            for key, entry in self.jobs.items()
            if entry.get("task_id") and (saved.get(key) or {}).get("task_id") != entry["task_id"]
        }

    async def _append(self, records: list[dict[str, Any]]) -> None:
        await self.journal.append(records)
        if self._journal_too_long():
            # One group commit wakes many writers; only the first compacts.
            await self.journal.checkpoint(self._snapshot, self._save, when=self._journal_too_long)

    def _journal_too_long(self) -> bool:
        return self.journal.size > max(COMPACT_MIN_BYTES, 2 * self._size)

    def _apply(self, record: journal.Record) -> None:
        journal.apply(self.jobs, record)
        if self._holders is not None:
            task_id = (record.get("put") or record.get("set") or {}).get("task_id")
            if task_id:
                self._holders[task_id] = record["job"]

    def _snapshot(self) -> bytes:
        return render(self.doc).encode("utf-8")

    def _save(self, data: bytes) -> None:
        try:
            write_atomic(self.path, data)
        except OSError as err:
            raise WriteError(f"cannot write {self.path}: {err.strerror or err}") from None
        self._size = len(data)
        self.bytes_written += len(data)


def _take_mutex(path: Path) -> int:
    """An exclusive flock on ``<lockfile>.lock``, the file removed again on release.

    Another run may remove the file between our open and our flock; then the lock
    we hold is on an unlinked file, so check that the path still names it.
    """
    target = mutex_path(path)
    while True:
        fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockError(
                f"{path} is in use by another vidbatch run; wait for it to finish"
            ) from None
        try:
            current = os.stat(target).st_ino
        except FileNotFoundError:
            current = -1
        if current == os.fstat(fd).st_ino:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _release_mutex(path: Path, fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        mutex_path(path).unlink()
    os.close(fd)
