"""``run --detach``: one pass, no waiting; the lockfile carries a batch across processes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from runner.base.errors import EXIT_FAILED, EXIT_IN_FLIGHT, EXIT_OK, EXIT_USAGE
from runner.sandbox import Sandbox
from tests.detach_support import TASK, Clock
from tests.factory import validate_lockfile
from tests.netguard import no_network  # noqa: F401
from tests.test_run_cli import Cli, write_manifest


def fresh_clone(previous: Path, folder: Path) -> Path:
    """A new checkout: the manifest and the lockfile only (no outputs, no journal)."""
    folder.mkdir()
    for name in ("shots.yaml", "shots.lock.json"):
        if (previous / name).exists():
            shutil.copy(previous / name, folder / name)
    return folder / "shots.yaml"


def test_detach_then_resume_in_fresh_clones(
    tmp_path: Path, clocked_cli: Cli, clocked_sandbox: Sandbox, hand_clock: Clock
) -> None:
    (tmp_path / "first").mkdir()
    manifest = write_manifest(tmp_path / "first", 5)
    manifest.write_text(manifest.read_text().replace("concurrency: 4", "concurrency: 2"))
    codes = []
    folder = manifest.parent
    for number in range(12):
        codes.append(clocked_cli("run", str(manifest), "--detach"))
        assert "Traceback" not in clocked_cli.err
        if codes[-1] != EXIT_IN_FLIGHT:
            break
        assert clocked_sandbox.store.in_flight(hand_clock.now) <= 2
        hand_clock.now += TASK + 1
        manifest = fresh_clone(folder, tmp_path / f"clone{number}")
        folder = manifest.parent
    assert codes[-1] == EXIT_OK, clocked_cli.err
    assert codes[:-1] == [EXIT_IN_FLIGHT] * (len(codes) - 1)
    assert clocked_sandbox.counters.tasks_made == 5  # not one task submitted twice
    assert clocked_sandbox.store.max_in_flight == 2
    jobs = validate_lockfile(folder / "shots.lock.json")["jobs"]
    assert {entry["status"] for entry in jobs.values()} == {"completed"}
    assert {entry["attempts"] for entry in jobs.values()} == {1}
    assert clocked_cli("verify", str(manifest)) == EXIT_OK, clocked_cli.out
    assert "verify: 5 ok, 0 missing or changed" in clocked_cli.out


def test_in_flight_exit_code_and_status_times(
    tmp_path: Path, clocked_cli: Cli, clocked_sandbox: Sandbox, hand_clock: Clock
) -> None:
    manifest = write_manifest(tmp_path, 2)
    assert clocked_cli("run", str(manifest), "--detach", "--json") == EXIT_IN_FLIGHT
    assert "detached: 2 job(s) still going; run again later" in clocked_cli.err
    summary = json.loads(clocked_cli.out.splitlines()[-1])
    assert summary["event"] == "summary" and summary["counts"] == {"pending": 2}
    assert (summary["detached"], summary["still_going"]) == (True, 2)
    assert clocked_sandbox.counters.polls == 0  # nothing waited for its tasks
    assert clocked_cli("status", str(manifest)) == 0
    assert "submitted 20" in clocked_cli.out and "last polled never" in clocked_cli.out
    hand_clock.now += 1
    assert clocked_cli("run", str(manifest), "--detach") == EXIT_IN_FLIGHT
    assert clocked_sandbox.counters.polls == 2 and clocked_sandbox.counters.tasks_made == 2
    assert clocked_cli("status", str(manifest), "--json") == 0
    rows = json.loads(clocked_cli.out)["manifests"][0]["jobs"]
    assert all(row["submitted_at"] and row["last_polled_at"] for row in rows)
    assert clocked_cli("status", str(manifest)) == 0
    assert "last polled 20" in clocked_cli.out
    hand_clock.now += TASK
    assert clocked_cli("run", str(manifest), "--detach") == EXIT_OK, clocked_cli.err
    assert clocked_cli("run", str(manifest), "--detach") == EXIT_OK  # nothing left to do
    assert clocked_sandbox.counters.tasks_made == 2


def test_a_failure_outranks_work_in_flight(
    tmp_path: Path, clocked_cli: Cli, clocked_sandbox: Sandbox, hand_clock: Clock
) -> None:
    manifest = write_manifest(tmp_path, 2)
    text = manifest.read_text().replace("prompt: Shot 1", "prompt: Shot 1 FAIL")
    manifest.write_text(text.replace("concurrency: 4", "concurrency: 1"))
    assert clocked_cli("run", str(manifest), "--detach") == EXIT_IN_FLIGHT
    hand_clock.now += TASK + 1
    # shot0 completes, shot1 is submitted; then it fails while nothing else is left.
    assert clocked_cli("run", str(manifest), "--detach") == EXIT_IN_FLIGHT
    hand_clock.now += TASK + 1
    assert clocked_cli("run", str(manifest), "--detach") == EXIT_FAILED
    assert "1 completed, 1 failed" in clocked_cli.err


def test_detach_refuses_the_in_process_sandbox_and_force(tmp_path: Path, clocked_cli: Cli) -> None:
    manifest = write_manifest(tmp_path, 1)
    assert clocked_cli("run", str(manifest), "--detach", "--sandbox") == EXIT_USAGE
    assert "--detach needs an API that outlives the run" in clocked_cli.err
    assert clocked_cli("run", str(manifest), "--detach", "--force") == EXIT_USAGE
    assert "would resubmit every job on every pass" in clocked_cli.err
    assert not (tmp_path / "shots.lock.json").exists()


def test_detached_shards_merged_after_each_pass_finish_the_batch(
    tmp_path: Path, clocked_cli: Cli, clocked_sandbox: Sandbox, hand_clock: Clock
) -> None:
    """A CI round: each shard starts from the merged lockfile, makes one pass, and
    the shard lockfiles are merged back; round after round until done."""
    manifest = write_manifest(tmp_path, 6)
    lock = tmp_path / "shots.lock.json"
    codes: list[list[int]] = []
    for _ in range(10):
        round_codes = []
        for k in (1, 2):
            shard = tmp_path / f"shard-{k}.lock.json"
            shard.unlink(missing_ok=True)  # a fresh checkout has none
            args = ("run", str(manifest), "--detach", "--shard", f"{k}/2", "--lockfile", str(shard))
            round_codes.append(clocked_cli(*args))
        fragments = [str(tmp_path / f"shard-{k}.lock.json") for k in (1, 2)]
        assert clocked_cli("lock", "merge", *fragments, "-o", str(lock)) == EXIT_OK
        codes.append(round_codes)
        if round_codes == [EXIT_OK, EXIT_OK]:
            break
        hand_clock.now += TASK + 1
    assert codes[-1] == [EXIT_OK, EXIT_OK] and EXIT_IN_FLIGHT in codes[0]
    assert clocked_sandbox.counters.tasks_made == 6  # not one submitted twice
    assert clocked_cli("verify", str(manifest)) == EXIT_OK
    assert "verify: 6 ok" in clocked_cli.out
