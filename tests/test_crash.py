"""Kill a real ``vidbatch run`` with SIGKILL at random moments; resume; nothing lost.

The sandbox is served by ``vidbatch sandbox`` in another process, so that its
tasks outlive each killed run, as a real API's would.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runner.manifest.inputs import sha256_of
from tests.factory import validate_lockfile
from tests.netguard import no_network  # noqa: F401

JOBS = 16
KILLS = 6


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"task_seconds": [0.2, 0.6]}))
    child = subprocess.Popen(
        [sys.executable, "-m", "runner", "sandbox", "--port", "0", "--faults", str(faults)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        yield url
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()


def write_manifest(folder: Path) -> Path:
    jobs = "\n".join(f"  - id: shot{i:02d}\n    prompt: Crash test shot {i}" for i in range(JOBS))
    manifest = folder / "crash.yaml"
    manifest.write_text(
        "version: 1\n"
        "defaults: {model: kling-v2.6-pro, duration: 5}\n"
        "run: {concurrency: 4, rate: 100, timeout: 1m, poll: {initial: 50ms, max: 200ms}}\n"
        "output: {dir: renders, name: '${job}.mp4'}\n"
        f"jobs:\n{jobs}\n"
    )
    return manifest


def start_run(manifest: Path, url: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PROXY")}
    env["LEMONDATA_API_KEY"] = "sk-crash-test"
    command = [sys.executable, "-m", "runner", "run", str(manifest), "--base-url", url, "--yes"]
    return subprocess.Popen(
        [*command, *extra],
        cwd=manifest.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_work(run: subprocess.Popen[bytes], lock: Path, started: int) -> None:
    """Until this run has compacted the lockfile and journaled something since."""
    journal = lock.with_name(lock.name + ".journal")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and run.poll() is None:
        try:
            compacted = lock.stat().st_mtime_ns
            written = journal.stat()
            if compacted >= started and written.st_mtime_ns >= compacted and written.st_size:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.002)


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path, served: str) -> None:
    manifest = write_manifest(tmp_path)
    lock = tmp_path / "crash.lock.json"
    chance = random.Random(20261124)
    for _ in range(KILLS):
        started = time.time_ns()
        run = start_run(manifest, served)
        wait_for_work(run, lock, started)
        time.sleep(chance.uniform(0.0, 0.5))
        run.send_signal(signal.SIGKILL)
        run.wait()
    final = start_run(manifest, served)
    assert final.wait(timeout=60) in (0, 1)

    record = httpx.get(f"{served}/_sandbox/record").json()
    made = {task["id"] for task in record["tasks"]}
    doc = validate_lockfile(lock)
    assert set(doc["jobs"]) == {f"shot{i:02d}" for i in range(JOBS)}
    assert not lock.with_name(lock.name + ".journal").exists()
    by_status: dict[str, list[str]] = {}
    for key, entry in doc["jobs"].items():
        by_status.setdefault(entry["status"], []).append(key)
    assert set(by_status) <= {"completed", "uncertain"}
    completed, uncertain = by_status.get("completed", []), by_status.get("uncertain", [])
    ids = [doc["jobs"][key]["task_id"] for key in completed]
    assert len(set(ids)) == len(ids) and set(ids) <= made  # no task id lost or shared
    # Every task the server made belongs to a completed job, or to a job recorded
    # uncertain (its create was in flight when the run died): never one job twice.
    assert len(made - set(ids)) <= len(uncertain)
    assert len(made) <= JOBS
    assert len(uncertain) <= KILLS * 4
    for key in completed:
        for output in doc["jobs"][key]["outputs"]:
            assert sha256_of(tmp_path / output["path"]) == output["sha256"]

    if uncertain:
        again = start_run(manifest, served, "--resubmit-uncertain")
        assert again.wait(timeout=60) == 0
        doc = validate_lockfile(lock)
        assert {e["status"] for e in doc["jobs"].values()} == {"completed"}
        record = httpx.get(f"{served}/_sandbox/record").json()
        assert len(record["tasks"]) <= JOBS + len(uncertain)


@pytest.mark.slow
def test_ctrl_c_saves_state_exits_130_and_the_next_run_resumes(tmp_path: Path, served: str) -> None:
    manifest = write_manifest(tmp_path)
    lock = tmp_path / "crash.lock.json"
    started = time.time_ns()
    run = start_run(manifest, served)
    wait_for_work(run, lock, started)
    time.sleep(0.3)
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=30) == 130
    doc = validate_lockfile(lock)
    assert not lock.with_name(lock.name + ".journal").exists()
    assert doc["jobs"]
    for entry in doc["jobs"].values():
        assert entry["task_id"], entry  # every create sent was answered and recorded
        assert entry["status"] in ("pending", "processing", "completed")
    before = {key: entry["task_id"] for key, entry in doc["jobs"].items()}

    again = start_run(manifest, served)
    assert again.wait(timeout=60) == 0
    doc = validate_lockfile(lock)
    assert {e["status"] for e in doc["jobs"].values()} == {"completed"}
    assert all(doc["jobs"][key]["task_id"] == task for key, task in before.items())
    record = httpx.get(f"{served}/_sandbox/record").json()
    assert len(record["tasks"]) == JOBS
