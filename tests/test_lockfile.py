from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from runner.base.errors import LockError
from runner.lock import journal, lockfile
from tests.factory import make_job, validate_lockfile
from tests.netguard import no_network  # noqa: F401


def test_read_missing_lockfile_is_empty(tmp_path: Path) -> None:
    assert lockfile.read(tmp_path / "none.lock.json") == {"version": 1, "jobs": {}}


def test_read_replays_journal_without_taking_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "demo.lock.json"
    job = make_job("a")
    lock.write_text(lockfile.render({"version": 1, "jobs": {}}))
    entry = lockfile.intent_entry(job, 1, 1)
    lockfile.journal_path(lock).write_bytes(
        journal.encode({"job": "a", "put": entry})
        + journal.encode({"job": "a", "set": {"task_id": "t1", "poll_url": "/v1/tasks/t1"}})
        + b'{"job": "a", "set": {"sta'
    )
    doc = lockfile.read(lock)
    assert doc["jobs"]["a"]["task_id"] == "t1"
    assert doc["jobs"]["a"]["status"] == "pending"
    assert not lockfile.mutex_path(lock).exists()


def test_read_rejects_bad_lockfiles(tmp_path: Path) -> None:
    lock = tmp_path / "demo.lock.json"
    lock.write_text("{nope")
    with pytest.raises(LockError, match="not valid JSON"):
        lockfile.read(lock)
    lock.write_text('{"version": 2, "jobs": {}}')
    with pytest.raises(LockError, match="not a version 1 vidbatch lockfile"):
        lockfile.read(lock)


def test_render_is_deterministic() -> None:
    doc = {"version": 1, "jobs": {"b": {"z": 1, "a": [1]}, "a": {}}}
    assert lockfile.render(doc) == (
        '{\n  "jobs": {\n    "a": {},\n    "b": {\n      "a": [\n        1\n      ],\n'
        '      "z": 1\n    }\n  },\n  "version": 1\n}\n'
    )


def test_store_journals_then_compacts_on_close(tmp_path: Path) -> None:
    lock = tmp_path / "demo.lock.json"
    job = make_job("a")

    async def main() -> None:
        store = lockfile.LockStore.open(lock, "demo.yaml")
        await store.put("a", lockfile.intent_entry(job, 1, 1))
        await store.update("a", task_id="t1", poll_url="/v1/tasks/t1")
        journal_text = lockfile.journal_path(lock).read_text()
        assert journal_text.count("\n") == 2
        assert json.loads(lock.read_text())["jobs"] == {}  # not rewritten per event
        await store.close()

    anyio.run(main)
    doc = validate_lockfile(lock)
    assert doc["manifest"] == "demo.yaml"
    assert doc["jobs"]["a"]["task_id"] == "t1"
    assert not lockfile.journal_path(lock).exists()


def test_holder_knows_every_task_id_and_only_those(tmp_path: Path) -> None:
    """The task-id index answers without a scan, and is never wrong (put, set, restore)."""
    lock = tmp_path / "demo.lock.json"

    async def main() -> None:
        store = lockfile.LockStore.open(lock, "demo.yaml")
        await store.put("a", lockfile.intent_entry(make_job("a"), 1, 1) | {"task_id": "t1"})
        assert store.holder("t1") == "a"  # the index is built here, from the entries
        await store.put("b", lockfile.intent_entry(make_job("b"), 2, 1))
        await store.update("b", task_id="t2")
        assert (store.holder("t2"), store.holder("fresh")) == ("b", None)
        previous = dict(store.entry("b") or {})
        await store.update("b", task_id="t3")  # b's task changed: t2 is nobody's now
        assert (store.holder("t2"), store.holder("t3")) == (None, "b")
        store.restore("b", previous)  # a failed write undone in memory: b holds t2 again
        assert (store.holder("t2"), store.holder("t3")) == ("b", None)
        await store.drop(["a"])
        assert store.holder("t1") is None
        await store.close()

    anyio.run(main)


def test_orphaned_intent_becomes_uncertain_on_open(tmp_path: Path) -> None:
    lock = tmp_path / "demo.lock.json"
    done = lockfile.intent_entry(make_job("b"), 2, 1) | {"task_id": "t2"}
    lockfile.journal_path(lock).write_bytes(
        journal.encode({"job": "a", "put": lockfile.intent_entry(make_job("a"), 1, 1)})
        + journal.encode({"job": "b", "put": done})
    )

    async def main() -> None:
        store = lockfile.LockStore.open(lock)
        assert store.jobs["a"]["status"] == "uncertain"
        assert "--resubmit-uncertain" in store.jobs["a"]["error"]["message"]
        assert store.jobs["b"]["status"] == "pending"
        await store.close()

    anyio.run(main)
    validate_lockfile(lock)


def test_second_store_on_same_lockfile_refuses(tmp_path: Path) -> None:
    lock = tmp_path / "demo.lock.json"

    async def main() -> None:
        store = lockfile.LockStore.open(lock)
        with pytest.raises(LockError, match="in use by another vidbatch run"):
            lockfile.LockStore.open(lock)
        await store.close()
        again = lockfile.LockStore.open(lock)
        await again.close()

    anyio.run(main)


def test_lock_held_by_another_process_refuses(tmp_path: Path) -> None:
    lock = tmp_path / "demo.lock.json"
    code = (
        "import sys, time; from pathlib import Path; from runner.lock.lockfile import LockStore;"
        "LockStore.open(Path(sys.argv[1])); print('held', flush=True); time.sleep(30)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(LockError):
            lockfile.LockStore.open(lock)
    finally:
        child.kill()
        child.communicate()
    anyio.run(lockfile.LockStore.open(lock).close)


def test_compacts_when_journal_grows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lockfile, "COMPACT_MIN_BYTES", 2000)
    lock = tmp_path / "demo.lock.json"

    async def main() -> int:
        store = lockfile.LockStore.open(lock)
        for i in range(40):
            await store.put(f"j{i}", lockfile.intent_entry(make_job(f"j{i}", i), i, 1))
        size = store.journal.size
        await store.close()
        return size

    last_journal_size = anyio.run(main)
    doc = validate_lockfile(lock)
    assert len(doc["jobs"]) == 40
    assert last_journal_size <= 2 * len(lock.read_bytes())


def test_writers_woken_by_one_group_commit_compact_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lockfile, "COMPACT_MIN_BYTES", 2000)
    lock = tmp_path / "demo.lock.json"

    async def main() -> tuple[int, int]:
        store = lockfile.LockStore.open(lock)
        for i in range(3):  # a journal under the threshold
            await store.put(f"j{i}", lockfile.intent_entry(make_job(f"j{i}", i), i, 1))
        before = store.bytes_written
        async with anyio.create_task_group() as group:
            for i in range(50):  # share one group commit past the threshold
                group.start_soon(functools.partial(store.update, f"j{i % 3}", status="processing"))
        after = store.bytes_written
        await store.close()
        return before, after

    before, after = anyio.run(main)
    assert after > before  # it did compact
    assert after - before <= 2 * len(lock.read_bytes())  # once, not once per writer


def test_write_atomic_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    lockfile.write_atomic(target, b"one")
    lockfile.write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(os.listdir(tmp_path)) == ["x.json"]
