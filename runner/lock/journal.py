"""The append-only journal beside a lockfile: one JSON line per change, fsynced.

Rewriting a lockfile of thousands of jobs for every event would cost O(jobs) per
event; appending one line costs O(1). The lockfile is the journal's checkpoint:
``runner.lock.lockfile`` replays the journal on top of it, and compacts the two into
a new lockfile at the start and end of a run and whenever the journal grows.

A record changes one job entry and is idempotent, so replaying a journal twice
(a crash between writing the compacted lockfile and truncating the journal) is
harmless::

    {"job": KEY, "put": {...entry...}}     replace (or create) the entry
    {"job": KEY, "set": {field: value}}    change some fields of the entry
    {"job": KEY, "drop": true}             remove the entry

Appends are group-committed: records queued while one write+fsync is under way
go out together in the next one, and ``append`` returns only once its records
are on disk, so no caller acts on a change that a crash could still lose. A torn
line (the process died in mid-write) is skipped on replay.

A write that fails (disk full, read-only, I/O error) is cut off again, so the file
keeps exactly the records acknowledged, and the journal refuses every later write
with the same ``WriteError``: what it was handed lives on in the caller's memory,
which the lockfile saves whole when it can.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from runner.base.errors import LockError, WriteError

Record = Mapping[str, Any]


def encode(record: Record) -> bytes:
    """One journal line for ``record``."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def apply(jobs: dict[str, Any], record: Record) -> None:
    """Apply one record to the ``jobs`` mapping of a lockfile document."""
    key = record["job"]
    if "put" in record:
        if isinstance(record["put"], dict):  # an older version's odd record is skipped
            jobs[key] = dict(record["put"])
    elif "set" in record:
        entry = jobs.get(key)
        if isinstance(entry, dict) and isinstance(record["set"], dict):
            entry.update(record["set"])
    elif record.get("drop") is True:
        jobs.pop(key, None)


def parse(data: bytes, name: str) -> list[dict[str, Any]]:
    """The records in journal bytes.

    A line that is not JSON is a torn write: the process died in mid-write (the
    last line), or a write failed part-way and a later one was appended after it.
    A torn write was never acknowledged, so it is skipped; a record that follows
    it, on a line of its own or after the torn bytes on the same line, still counts.
    The bytes after the last newline are the one write that may still be under way.
    """
    records: list[dict[str, Any]] = []
    for number, line in enumerate(data.split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        record = _decode(line)
        if record is _TORN:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("job"), str):
            raise LockError(f"{name}:{number}: not a journal record")
        records.append(record)
    return records


_TORN = object()


def _null(_constant: str) -> None:
    """NaN and Infinity (which Python writes and reads, and JSON has not) read as null."""
    return None


def _decode(line: bytes) -> Any:
    """The JSON value of ``line``; the record after a torn prefix; else ``_TORN``."""
    start = 0
    while start != -1:
        try:
            return json.loads(line[start:], parse_constant=_null)
        except ValueError:
            # Only the whole record appended after the torn bytes parses to the
            # end of the line: a suffix that starts inside the torn part leaves
            # an object open or is followed by more data.
            start = line.find(b'{"', start + 1)
    return _TORN


def replay(jobs: dict[str, Any], path: Path) -> int:
    """Apply the journal at ``path`` (if any) to ``jobs``; the number of records applied."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    records = parse(data, str(path))
    for record in records:
        apply(jobs, record)
    return len(records)


class Journal:
    """An open journal file that appends records durably, in group commits."""

    def __init__(self, path: Path, on_record: Callable[[Record], None] | None = None) -> None:
        self.path = path
        self._on_record = on_record
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        self._buffer: list[bytes] = []
        self._queued = 0
        self._durable = 0
        self._lock = anyio.Lock()
        self.size = os.fstat(self._fd).st_size
        self.bytes_written = 0
        self.commits = 0
        self.failed: WriteError | None = None

    async def append(self, records: Iterable[Record]) -> None:
        """Queue ``records`` and return once they are on disk."""
        self.queue(records)
        target = self._queued
        async with self._lock:
            if self._durable < target:
                await self._flush_locked()

    def queue(self, records: Iterable[Record]) -> None:
        """Queue ``records``: they reach disk with the next append, flush or checkpoint."""
        for record in records:
            self._buffer.append(encode(record))
            self._queued += 1
            if self._on_record is not None:
                self._on_record(record)

    async def flush(self) -> None:
        """Write out anything queued."""
        async with self._lock:
            await self._flush_locked()

    async def checkpoint(
        self,
        snapshot: Callable[[], bytes],
        save: Callable[[bytes], None],
        when: Callable[[], bool] | None = None,
    ) -> None:
        """Flush, save a ``snapshot`` of the whole state elsewhere, then empty the file.

        ``snapshot`` runs on the event loop (the state it reads is not changing
        under it); ``save`` runs in a worker thread and must be durable.
        Records queued after the snapshot stay queued and go to the emptied file.
        ``when``, tested once the lock is held, skips the checkpoint when false:
        callers that queued behind one checkpoint need not repeat it.
        """
        async with self._lock:
            if when is not None and not when():
                return
            await self._flush_locked()
            data = snapshot()
            await anyio.to_thread.run_sync(save, data)
            os.ftruncate(self._fd, 0)
            self.size = 0

    def close(self) -> None:
        """Write out anything still queued, and close the file."""
        try:
            if self._buffer and self.failed is None:
                data = b"".join(self._buffer)
                self._buffer.clear()
                self._write(data)
        finally:
            os.close(self._fd)

    async def _flush_locked(self) -> None:
        if not self._buffer:
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        upto = self._queued
        await anyio.to_thread.run_sync(self._write, data)
        self._durable = upto

    def _write(self, data: bytes) -> None:
        if self.failed is not None:
            raise self.failed
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as err:
            self.failed = WriteError(f"cannot write {self.path}: {err.strerror or err}")
            with contextlib.suppress(OSError):  # then parse() skips the torn line
                os.ftruncate(self._fd, self.size)
            raise self.failed from None
        self.size += len(data)
        self.bytes_written += len(data)
        self.commits += 1
