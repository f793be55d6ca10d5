"""Shards (``run --shard K/N``) and ``vidbatch lock merge``."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.lock.lockfile import LockStore
from runner.manifest.job import RunSettings
from runner.run import shards
from runner.run.plan import PlanOptions
from runner.run.session import Overrides, open_targets
from runner.sandbox import Sandbox, SandboxConfig, background
from tests.factory import make_job, make_manifest, validate_lockfile
from tests.netguard import no_network  # noqa: F401
from tests.test_run_cli import KEY, Cli, write_manifest

DEMO = Path(__file__).resolve().parent.parent / "manifests"
VOLATILE = ("task_id", "poll_url", "submitted_at", "finished_at", "last_polled_at")
VOLATILE += ("request_id", "billing_transaction_id", "header_task_id")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli()


@pytest.fixture
def quick(cli: Cli) -> Iterator[Sandbox]:
    """A sandbox on loopback whose tasks take a tenth of a second; ``cli`` uses it."""
    sandbox = Sandbox(SandboxConfig(task_seconds=(0.05, 0.1)))
    with background(sandbox) as url:
        cli.environ.update(LEMONDATA_API_KEY=KEY, LEMONDATA_BASE_URL=url)
        yield sandbox


def test_a_job_stays_in_its_shard_when_jobs_are_added() -> None:
    keys = [f"shot{i}" for i in range(200)]
    before = {key: shards.shard_of(key, 4) for key in keys}
    more = keys + [f"extra{i}[seed={i}]" for i in range(300)]
    after = {key: shards.shard_of(key, 4) for key in more}
    assert {key: after[key] for key in keys} == before
    for count in (1, 2, 3, 4, 7):
        held = [[k for k in more if shards.Shard(i, count).holds(k)] for i in range(1, count + 1)]
        assert sorted(k for part in held for k in part) == sorted(more)  # each in exactly one
        assert min(map(len, held)) > len(more) / count * 0.7  # and spread about evenly
    # The hash itself is pinned: changing it would move jobs of running CI matrices.
    assert [shards.shard_of(k, 4) for k in ("cat-garden", "lighthouse", "day-to-night")] == [
        1,
        1,
        2,
    ]


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "a/b", "1", "1/4/2", "-1/4"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        shards.parse(text)


def test_bad_shard_on_the_command_line(tmp_path: Path, cli: Cli) -> None:
    manifest = write_manifest(tmp_path, 1)
    assert cli("run", str(manifest), "--sandbox", "--shard", "3/2") == 2
    assert "shard '3/2': K must be 1 to N" in cli.err


def test_rate_and_concurrency_are_divided_unless_given(tmp_path: Path) -> None:
    settings = RunSettings(concurrency=4, rate=10.0)
    shard = shards.Shard(2, 3)
    assert shards.share(settings, shard, False, False) == RunSettings(concurrency=1, rate=10 / 3)
    assert shards.share(settings, shard, True, True) == settings
    jobs = tuple(make_job(f"j{i}", i) for i in range(20))
    manifest = make_manifest(tmp_path, jobs=jobs, run=RunSettings(concurrency=8, rate=4.0))
    (target,) = open_targets([manifest], PlanOptions(), Overrides(rate=3.0), shard=shard)
    try:
        assert (target.settings.concurrency, target.settings.rate) == (2, 3.0)
        assert {i.key for i in target.plan.items} == {j.key for j in jobs if shard.holds(j.key)}
    finally:
        target.store.release()


def entry(seed: int, status: str = "completed") -> dict[str, Any]:
    return {
        "fingerprint": "sha256:" + f"{seed:064x}",
        "request": {"prompt": f"p{seed}", "seed": seed},
        "seed": seed,
        "status": status,
        "task_id": f"ldtask_{seed}",
        "attempts": 1,
        "outputs": [],
    }


def write_lock(path: Path, jobs: dict[str, Any], manifest: str | None = None) -> Path:
    doc: dict[str, Any] = {"version": 1, "jobs": jobs}
    if manifest is not None:
        doc["manifest"] = manifest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_merge_of_disjoint_and_overlapping_equal_fragments(tmp_path: Path, cli: Cli) -> None:
    a = write_lock(tmp_path / "s/a.json", {"a": entry(1), "both": entry(3)}, "../m.yaml")
    b = write_lock(tmp_path / "s/b.json", {"b": entry(2, "pending"), "both": entry(3)})
    assert cli("lock", "merge", str(a), str(b), "-o", "m.lock.json") == 0, cli.err
    merged = validate_lockfile(tmp_path / "m.lock.json")
    assert merged == {
        "version": 1,
        "manifest": "m.yaml",
        "jobs": {"a": entry(1), "b": entry(2, "pending"), "both": entry(3)},
    }
    first = (tmp_path / "m.lock.json").read_bytes()
    assert cli("lock", "merge", str(b), str(a), "-o", "m.lock.json") == 0
    assert (tmp_path / "m.lock.json").read_bytes() == first  # order does not matter
    assert "lock merge: 2 file(s), 3 job(s) -> m.lock.json" in cli.err
    assert not list(tmp_path.glob("m.lock.json.*"))  # no journal, no mutex left behind


def test_merge_of_conflicting_fragments_names_the_key(tmp_path: Path, cli: Cli) -> None:
    a = write_lock(tmp_path / "a.json", {"same": entry(1), "x": entry(5)})
    b = write_lock(tmp_path / "b.json", {"same": entry(1, "failed"), "x": entry(5)})
    out = write_lock(tmp_path / "out.json", {"kept": entry(9)})
    before = out.read_bytes()
    assert cli("lock", "merge", str(a), str(b), "-o", str(out)) == 2
    assert f"1 job key(s) with different entries in two lockfiles: same ({a} and {b})" in cli.err
    assert "nothing was written" in cli.err and out.read_bytes() == before
    assert cli("lock", "merge", str(a), str(tmp_path / "nope.json"), "-o", str(out)) == 2
    assert "no such lockfile" in cli.err
    (tmp_path / "bad.json").write_text("{")
    assert cli("lock", "merge", str(tmp_path / "bad.json"), "-o", str(out)) == 2
    assert "not valid JSON" in cli.err and "Traceback" not in cli.err
    assert cli("lock", "merge", str(a)) == 2  # -o is required


def copy_demo(folder: Path) -> Path:
    """The demo, polling quickly (what it asks for, so its outputs, unchanged)."""
    folder.mkdir()
    demo = (DEMO / "demo.yaml").read_text()
    quick = demo.replace("poll: {initial: 1s, max: 5s}", "poll: {initial: 50ms, max: 200ms}")
    assert quick != demo
    (folder / "demo.yaml").write_text(quick)
    shutil.copytree(DEMO / "assets", folder / "assets")
    return folder / "demo.yaml"


def stable(doc: dict[str, Any]) -> dict[str, Any]:
    """A lockfile's jobs without what differs between two runs of the same requests
    (task ids, times, and the signed output URLs)."""
    jobs = {}
    for key, entry in doc["jobs"].items():
        kept = {name: value for name, value in entry.items() if name not in VOLATILE}
        kept["outputs"] = [{**o, "url": None} for o in entry["outputs"]]
        jobs[key] = kept
    return jobs


@pytest.mark.slow
def test_a_sharded_demo_merged_equals_an_unsharded_one(
    tmp_path: Path, cli: Cli, quick: Sandbox
) -> None:
    whole = copy_demo(tmp_path / "whole")
    assert cli("run", str(whole)) == 0, cli.err
    parts = copy_demo(tmp_path / "parts")
    for k in (1, 2, 3):
        lock = f"parts/shards/demo.{k}.lock.json"
        assert cli("run", str(parts), "--shard", f"{k}/3", "--lockfile", lock) == 0
    fragments = sorted(str(p) for p in (tmp_path / "parts/shards").glob("*.lock.json"))
    shard_jobs = [set(json.loads(Path(f).read_text())["jobs"]) for f in fragments]
    # Disjoint, seven in all; with seven jobs, shard 2 of 3 happens to hold none.
    assert [len(jobs) for jobs in shard_jobs] == [4, 0, 3]
    assert len(set().union(*shard_jobs)) == 7
    assert cli("lock", "merge", *fragments, "-o", "parts/demo.lock.json") == 0, cli.err
    merged = validate_lockfile(tmp_path / "parts/demo.lock.json")
    assert merged["manifest"] == "demo.yaml"
    assert stable(merged) == stable(validate_lockfile(tmp_path / "whole/demo.lock.json"))
    assert cli("verify", str(parts)) == 0, cli.out
    assert "verify: 7 ok" in cli.out
    for video in sorted((tmp_path / "whole/renders/demo").iterdir()):
        assert (tmp_path / "parts/renders/demo" / video.name).read_bytes() == video.read_bytes()
    assert cli("plan", str(parts), "--check") == 0 and "7 up to date" in cli.out
    assert cli("status", str(parts)) == 0 and "7 completed" in cli.out


def test_a_shard_starts_from_the_manifest_s_lockfile(
    tmp_path: Path, cli: Cli, quick: Sandbox
) -> None:
    manifest = write_manifest(tmp_path, 6)
    assert cli("run", str(manifest)) == 0, cli.err
    base = json.loads((tmp_path / "shots.lock.json").read_text())["jobs"]
    lock = "shards/s2.json"  # elsewhere: its output paths are rewritten for its folder
    held = sorted(key for key in base if shards.Shard(2, 2).holds(key))
    # plan --shard plans what that run will do, from where it will start, writing nothing.
    assert cli("plan", str(manifest), "--shard", "2/2", "--lockfile", lock, "--json") == 0
    planned = json.loads(cli.out)
    assert planned["shard"] == "2/2" and not planned["sends"]
    assert [(j["job"], j["action"]) for j in planned["plans"][0]["jobs"]] == [
        (key, "skip") for key in held
    ]
    assert not (tmp_path / lock).exists()
    assert cli("plan", str(manifest), "--shard", "1/2", "--check") == 0
    assert "(lockfile shots.lock.json, shard 1/2)" in cli.out
    assert f"{len(base) - len(held)} up to date" in cli.out
    assert cli("status", str(manifest), "--shard", "2/2", "--lockfile", lock, "--json") == 0
    shown = json.loads(cli.out)["manifests"][0]
    assert shown["shard"] == "2/2" and shown["counts"] == {"completed": len(held)}
    assert [row["job"] for row in shown["jobs"]] == held
    assert all(row["missing_outputs"] == 0 for row in shown["jobs"])
    assert not (tmp_path / lock).exists()
    assert cli("status", str(manifest), "--shard", "1/2") == 0
    assert "(lockfile shots.lock.json, shard 1/2)" in cli.out
    assert f"{len(base) - len(held)} completed" in cli.out
    refreshed = "shards/refreshed.json"  # --refresh writes: it starts the shard's lockfile
    assert cli("status", str(manifest), "--shard", "2/2", "--lockfile", refreshed, "--refresh") == 0
    assert set(validate_lockfile(tmp_path / refreshed)["jobs"]) == set(held)
    assert cli("run", str(manifest), "--shard", "2/2", "--lockfile", lock) == 0
    assert "summary: 2 completed in" in cli.err  # nothing sent, nothing fetched again
    seeded = validate_lockfile(tmp_path / lock)["jobs"]
    assert set(seeded) == {key for key in base if shards.Shard(2, 2).holds(key)} != set()
    assert all(seeded[key]["task_id"] == base[key]["task_id"] for key in seeded)
    assert quick.counters.tasks_made == 6  # none sent again
    # On the manifest's own lockfile, a shard leaves the other shards' entries alone.
    assert shards.Shard(1, 2).holds("shot0") and not shards.Shard(1, 2).holds("shot4")
    manifest.write_text(
        manifest.read_text().replace("Shot 0", "Shot zero").replace("Shot 4", "Shot four")
    )
    assert cli("run", str(manifest), "--shard", "1/2") == 0
    assert quick.counters.tasks_made == 7  # shot0 rerun; shot4, of shard 2, left as it was
    after = json.loads((tmp_path / "shots.lock.json").read_text())["jobs"]
    assert set(after) == set(base)
    assert all(after[key] == base[key] for key in base if shards.Shard(2, 2).holds(key))


def test_merge_into_the_output_itself_and_not_while_a_run_holds_it(
    tmp_path: Path, cli: Cli
) -> None:
    out = write_lock(tmp_path / "m.lock.json", {"old": entry(1)})
    new = write_lock(tmp_path / "new.json", {"new": entry(2)})
    assert cli("lock", "merge", str(out), str(new), "-o", str(out)) == 0, cli.err
    assert set(validate_lockfile(out)["jobs"]) == {"old", "new"}
    held = LockStore.open(out)
    try:
        assert cli("lock", "merge", str(new), "-o", str(out)) == 2
        assert "in use by another vidbatch run" in cli.err
    finally:
        held.release()
    assert set(validate_lockfile(out)["jobs"]) == {"old", "new"}


def test_the_manifests_budget_is_divided_and_never_exceeded() -> None:
    """run.max_cost is the whole manifest's: each of N shards gets 1/N, rounded down."""
    from decimal import Decimal

    settings = RunSettings(max_cost=Decimal("10"))
    parts = [shards.share(settings, shards.Shard(k, 3), False, False) for k in (1, 2, 3)]
    assert [p.max_cost for p in parts] == [Decimal("3.333333")] * 3
    assert sum(p.max_cost or 0 for p in parts) <= Decimal("10")
    assert shards.share(RunSettings(), shards.Shard(1, 3), False, False).max_cost is None
