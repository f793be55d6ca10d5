"""Outputs: expired URLs refreshed by polling, multi-video tasks, poll_url styles."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from runner.manifest.job import RunSettings
from runner.sandbox import Sandbox, SandboxConfig
from tests.engine_support import BASE, CDN, run_engine, sandbox_for, statuses
from tests.factory import make_manifest, validate_lockfile
from tests.netguard import no_network  # noqa: F401

RUN = RunSettings(concurrency=3, rate=0, timeout=30, poll_initial=0.02, poll_max=0.05)
QUICK = (0.03, 0.08)


def test_expired_urls_are_refreshed_by_polling_again(tmp_path: Path) -> None:
    offset = [0.0]
    sandbox = Sandbox(
        SandboxConfig(task_seconds=QUICK, url_ttl=5, output_base_url=CDN),
        clock=lambda: time.monotonic() + offset[0],
    )
    manifest = make_manifest(tmp_path, 3, run=RUN)
    run_engine([manifest], sandbox, download=False)
    lock = manifest.default_lockfile()
    stale = {k: e["outputs"][0]["url"] for k, e in validate_lockfile(lock)["jobs"].items()}
    assert all(e["outputs"][0]["path"] is None for e in validate_lockfile(lock)["jobs"].values())

    offset[0] = 60.0  # every URL has expired
    result = run_engine([manifest], sandbox)
    assert result.outcome.all_done
    assert sandbox.counters.statuses["403"] == 3
    assert len(result.poll_urls()) == 3  # one refresh per job, nothing resubmitted
    assert sandbox.counters.tasks_made == 3
    doc = validate_lockfile(lock)
    for key, entry in doc["jobs"].items():
        (output,) = entry["outputs"]
        assert output["url"] != stale[key]
        assert (tmp_path / output["path"]).is_file()


def test_missing_file_of_completed_job_is_downloaded_again(tmp_path: Path) -> None:
    sandbox = sandbox_for(task_seconds=QUICK)
    manifest = make_manifest(tmp_path, 2, run=RUN)
    run_engine([manifest], sandbox)
    (tmp_path / "out" / "job1.mp4").unlink()
    result = run_engine([manifest], sandbox)
    assert result.outcome.all_done and sandbox.counters.creates == 2
    assert [urlsplit(s.url).path.split("/")[-1] for s in result.files.seen] == ["0.mp4"]
    assert (tmp_path / "out" / "job1.mp4").is_file()


def test_multi_video_tasks_download_every_output(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 2, run=RUN)
    result = run_engine([manifest], sandbox_for(task_seconds=QUICK, multi_video_rate=1.0))
    doc = validate_lockfile(manifest.default_lockfile())
    for key, entry in doc["jobs"].items():
        assert [o["path"] for o in entry["outputs"]] == [f"out/{key}.mp4", f"out/{key}-1.mp4"]
        for output in entry["outputs"]:
            assert (tmp_path / output["path"]).stat().st_size == output["bytes"]
    assert len(result.files.seen) == 4
    assert result.outcome.all_done


def test_no_download_leaves_urls_only(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, 2, run=RUN)
    result = run_engine([manifest], sandbox_for(task_seconds=QUICK), download=False)
    assert result.files.seen == [] and result.outcome.all_done
    doc = validate_lockfile(manifest.default_lockfile())
    assert all(e["outputs"][0]["url"].startswith(CDN) for e in doc["jobs"].values())


@pytest.mark.parametrize(
    ("style", "path"),
    [
        ("relative", "/v1/tasks/{id}"),
        ("absolute", "/v1/tasks/{id}"),
        ("legacy", "/v1/videos/generations/{id}"),
        ("none", "/v1/tasks/{id}"),
    ],
)
def test_polls_go_to_the_returned_poll_url(tmp_path: Path, style: str, path: str) -> None:
    manifest = make_manifest(tmp_path, 3, run=RUN)
    result = run_engine([manifest], sandbox_for(task_seconds=QUICK, poll_url_style=style))
    assert statuses(manifest.default_lockfile()) == dict.fromkeys(
        ["job0", "job1", "job2"], "completed"
    )
    doc = validate_lockfile(manifest.default_lockfile())
    expected = {BASE + path.format(id=e["task_id"]) for e in doc["jobs"].values()}
    assert set(result.poll_urls()) == expected
    if style == "none":
        assert all(e["poll_url"] is None for e in doc["jobs"].values())


class ForeignPollUrl(httpx.AsyncBaseTransport):
    """Rewrites each create's poll_url to another host, as a hostile answer might."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "POST":
            return response
        body = json.loads(await response.aread())
        body["poll_url"] = f"http://evil.example/v1/tasks/{body['id']}"
        return httpx.Response(response.status_code, json=body)


def test_a_poll_url_on_another_host_is_never_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.engine_support as support

    real = support.transport
    monkeypatch.setattr(support, "transport", lambda sandbox: ForeignPollUrl(real(sandbox)))
    manifest = make_manifest(tmp_path, 2, run=RUN)
    result = run_engine([manifest], sandbox_for(task_seconds=QUICK))
    doc = validate_lockfile(manifest.default_lockfile())
    assert {e["status"] for e in doc["jobs"].values()} == {"completed"}
    assert all(e["poll_url"].startswith("http://evil.example/") for e in doc["jobs"].values())
    expected = {f"{BASE}/v1/tasks/{e['task_id']}" for e in doc["jobs"].values()}
    assert set(result.poll_urls()) == expected
    assert all("evil" not in s.url for s in result.api.seen + result.files.seen)
    warnings = [e for e in result.reporter.events if e.kind == "warning"]
    assert len(warnings) == 2 and "another host" in warnings[0].data["message"]
