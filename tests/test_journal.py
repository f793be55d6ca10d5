from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from runner.base.errors import LockError
from runner.lock import journal
from tests.netguard import no_network  # noqa: F401


def test_apply_put_set_drop() -> None:
    jobs: dict[str, dict[str, object]] = {}
    journal.apply(jobs, {"job": "a", "put": {"status": "pending", "task_id": None}})
    journal.apply(jobs, {"job": "a", "set": {"task_id": "t1"}})
    journal.apply(jobs, {"job": "b", "set": {"task_id": "ignored"}})
    assert jobs == {"a": {"status": "pending", "task_id": "t1"}}
    journal.apply(jobs, {"job": "a", "drop": True})
    assert jobs == {}


def test_torn_last_line_is_ignored() -> None:
    data = journal.encode({"job": "a", "put": {}}) + b'{"job": "b", "pu'
    assert journal.parse(data, "j") == [{"job": "a", "put": {}}]


def test_torn_line_ending_in_newline_byte_is_ignored() -> None:
    data = journal.encode({"job": "a", "put": {}}) + b'{"job": "b\n'
    assert journal.parse(data, "j") == [{"job": "a", "put": {}}]


def test_torn_middle_line_hides_no_later_record() -> None:
    data = b'{"job": "a", "put": {}}\n{"job": "x", "put": {"req\n{"job": "b", "put": {}}\n'
    assert journal.parse(data, "j") == [{"job": "a", "put": {}}, {"job": "b", "put": {}}]


def test_record_appended_after_torn_bytes_on_one_line_counts() -> None:
    # A write that failed part-way, then the next append on the same line.
    put = {"request": {"extra": {"job": "x"}}, "status": "pending"}
    torn = journal.encode({"job": "a", "put": put})[:-9]
    data = (
        torn + journal.encode({"job": "b", "put": put}) + journal.encode({"job": "c", "drop": True})
    )
    assert journal.parse(data, "j") == [{"job": "b", "put": put}, {"job": "c", "drop": True}]


def test_json_that_is_not_a_record_is_an_error() -> None:
    with pytest.raises(LockError, match="j:2: not a journal record"):
        journal.parse(b'{"job": "a", "put": {}}\n[1, 2]\n', "j")


def test_replay_twice_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "x.journal"
    records = [
        {"job": "a", "put": {"status": "pending", "attempts": 1}},
        {"job": "a", "set": {"status": "completed"}},
        {"job": "b", "put": {"status": "pending"}},
        {"job": "b", "drop": True},
    ]
    path.write_bytes(b"".join(journal.encode(r) for r in records))
    once: dict[str, object] = {}
    journal.replay(once, path)
    twice = json.loads(json.dumps(once))
    journal.replay(twice, path)
    assert once == twice == {"a": {"status": "completed", "attempts": 1}}


def test_concurrent_appends_are_group_committed(tmp_path: Path) -> None:
    path = tmp_path / "x.journal"
    seen: list[str] = []

    async def main() -> journal.Journal:
        opened = journal.Journal(path, lambda record: seen.append(record["job"]))
        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(opened.append, [{"job": f"j{i}", "put": {"n": i}}])
        return opened

    opened = anyio.run(main)
    opened.close()
    records = journal.parse(path.read_bytes(), "x")
    assert sorted(r["job"] for r in records) == sorted(f"j{i}" for i in range(50))
    assert len(seen) == 50
    assert opened.commits < 50  # several appends shared one fsync


def test_checkpoint_saves_snapshot_then_empties(tmp_path: Path) -> None:
    path = tmp_path / "x.journal"
    saved: list[bytes] = []

    async def main() -> None:
        opened = journal.Journal(path)
        await opened.append([{"job": "a", "put": {}}])
        await opened.checkpoint(lambda: b"snapshot", saved.append)
        await opened.append([{"job": "b", "put": {}}])
        opened.close()

    anyio.run(main)
    assert saved == [b"snapshot"]
    assert journal.parse(path.read_bytes(), "x") == [{"job": "b", "put": {}}]


def test_queued_records_go_out_with_the_next_append_or_on_close(tmp_path: Path) -> None:
    path = tmp_path / "x.journal"

    async def main() -> None:
        opened = journal.Journal(path)
        opened.queue([{"job": "a", "put": {}}])
        assert path.read_bytes() == b""
        await opened.append([{"job": "b", "put": {}}])
        assert [r["job"] for r in journal.parse(path.read_bytes(), "x")] == ["a", "b"]
        opened.queue([{"job": "c", "put": {}}])
        opened.close()

    anyio.run(main)
    assert [r["job"] for r in journal.parse(path.read_bytes(), "x")] == ["a", "b", "c"]
