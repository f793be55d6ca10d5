from __future__ import annotations

from pathlib import Path

from runner.job import RunSettings
from tests.engine_support import KEY, run_engine, sandbox_for, statuses
from tests.factory import make_manifest, validate_lockfile
from tests.netguard import no_network  # noqa: F401

FAST_RUN = RunSettings(concurrency=4, rate=0, timeout=30, poll_initial=0.02, poll_max=0.1)


def test_happy_path_completes_and_downloads(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 5, run=FAST_RUN)
    result = run_engine([manifest], sandbox_for(task_seconds=(0.05, 0.1)))
    lock = manifest.default_lockfile()
    assert statuses(lock) == dict.fromkeys([f"job{i}" for i in range(5)], "completed")
    assert result.creates == 5
    assert result.outcome.all_done
    doc = validate_lockfile(lock)
    for key, entry in doc["jobs"].items():
        (output,) = entry["outputs"]
        assert output["path"] == f"out/{key}.mp4"
        assert (tmp_path / output["path"]).stat().st_size == output["bytes"]
    assert result.sandbox.counters.file_requests_with_authorization == 0
    assert all(s.authorization is None for s in result.files.seen)
    assert all(s.authorization == f"Bearer {KEY}" for s in result.api.seen)
