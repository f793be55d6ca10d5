"""The commands end to end through ``runner.cli.main``: exit codes, output, files."""

from __future__ import annotations

import argparse
import importlib
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from runner import cli as cli_module
from runner.cli import Context, main
from runner.lock.lockfile import LockStore
from runner.sandbox import Sandbox, SandboxConfig, background
from tests.factory import validate_lockfile
from tests.netguard import no_network  # noqa: F401

KEY = "sk-cli-secret-0123456789"


def write_manifest(folder: Path, count: int = 3, name: str = "shots", extra: str = "") -> Path:
    jobs = "\n".join(f"  - id: shot{i}\n    prompt: Shot {i}{extra}" for i in range(count))
    path = folder / f"{name}.yaml"
    path.write_text(
        "version: 1\n"
        "defaults: {model: kling-v2.6-pro, duration: 5}\n"
        "run: {concurrency: 4, rate: 50, timeout: 1m, poll: {initial: 50ms, max: 200ms}}\n"
        "output: {dir: renders, name: '${job}.mp4'}\n"
        f"jobs:\n{jobs}\n"
    )
    return path


class Cli:
    """Runs ``vidbatch`` in process with captured output."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.environ = environ or {"HOME": "/nonexistent"}
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()

    def __call__(self, *argv: str, tty: bool = False) -> int:
        self.stdout, self.stderr = io.StringIO(), io.StringIO()
        ctx = Context(
            environ=self.environ,
            stdout=self.stdout,
            stderr=self.stderr,
            stdin_is_tty=tty,
            stderr_is_tty=tty,
        )
        return main(list(argv), ctx)

    @property
    def out(self) -> str:
        return self.stdout.getvalue()

    @property
    def err(self) -> str:
        return self.stderr.getvalue()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli({"HOME": str(tmp_path / "home")})  # caches stay in the test's folder


@pytest.fixture
def served(cli: Cli) -> Iterator[Sandbox]:
    """A quick sandbox on loopback; ``cli`` is set up to use it."""
    sandbox = Sandbox(SandboxConfig(task_seconds=(0.05, 0.1), fail_prompt_marker="FAIL"))
    with background(sandbox) as url:
        sandbox.url = url  # type: ignore[attr-defined]
        cli.environ["LEMONDATA_API_KEY"] = KEY
        cli.environ["LEMONDATA_BASE_URL"] = url
        yield sandbox


def test_run_on_the_sandbox_then_nothing_to_do(tmp_path: Path, cli: Cli) -> None:
    manifest = write_manifest(tmp_path)
    assert cli("plan", str(manifest), "--check") == 1
    assert cli("run", str(manifest), "--sandbox") == 0, cli.err
    assert "summary: 3 completed" in cli.err
    assert "lockfile: shots.lock.json  outputs: renders" in cli.err
    doc = validate_lockfile(tmp_path / "shots.lock.json")
    assert doc["manifest"] == "shots.yaml"
    assert sorted(p.name for p in (tmp_path / "renders").iterdir()) == [
        "shot0.mp4",
        "shot1.mp4",
        "shot2.mp4",
    ]
    assert cli("plan", str(manifest), "--check") == 0
    assert "3 up to date" in cli.out
    before = (tmp_path / "shots.lock.json").read_text()
    assert cli("run", str(manifest), "--sandbox") == 0
    assert (tmp_path / "shots.lock.json").read_text() == before
    assert cli("verify", str(manifest)) == 0
    assert "verify: 3 ok, 0 missing or changed" in cli.out


def test_json_events_and_reports(tmp_path: Path, cli: Cli, served: Sandbox) -> None:
    manifest = write_manifest(tmp_path, 2)
    step = tmp_path / "step.md"
    cli.environ["GITHUB_STEP_SUMMARY"] = str(step)
    code = cli("run", str(manifest), "--json", "--junit", "junit.xml", "--summary", "s.md")
    assert code == 0, cli.err
    events = [json.loads(line) for line in cli.out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("submitted") == kinds.count("completed") == kinds.count("downloaded") == 2
    assert kinds[-1] == "summary" and events[-1]["counts"] == {"completed": 2}
    assert "<testsuite" in (tmp_path / "junit.xml").read_text()
    assert (tmp_path / "s.md").read_text() == step.read_text() != ""


def test_plan_json_names_changed_fields(tmp_path: Path, cli: Cli, served: Sandbox) -> None:
    manifest = write_manifest(tmp_path, 2)
    assert cli("run", str(manifest)) == 0
    manifest.write_text(manifest.read_text().replace("Shot 1", "Shot one"))
    assert cli("plan", str(manifest), "--json", "--check") == 1
    plan = json.loads(cli.out)
    assert plan["sends"] is True
    (only,) = plan["plans"]
    assert only["jobs"] == [
        {"job": "shot0", "action": "skip", "reason": "completed", "changed": []},
        {
            "job": "shot1",
            "action": "rerun",
            "reason": "changed: prompt",
            "changed": ["prompt"],
            "estimate": {  # the built-in catalog lists no price for this model
                "min_usd": None,
                "max_usd": None,
                "unknown": "no price listed for kling-v2.6-pro",
            },
        },
    ]


def test_status_and_verify_find_changed_files(tmp_path: Path, cli: Cli, served: Sandbox) -> None:
    manifest = write_manifest(tmp_path, 2)
    assert cli("status", str(manifest), "--json") == 0
    assert [j["status"] for j in json.loads(cli.out)["manifests"][0]["jobs"]] == [
        "not submitted",
        "not submitted",
    ]
    assert cli("run", str(manifest)) == 0
    (tmp_path / "renders" / "shot1.mp4").write_bytes(b"tampered")
    assert cli("verify", str(manifest)) == 1
    assert "changed: " in cli.out and "shot1" in cli.out
    assert cli("status", str(manifest)) == 0
    assert "completed" in cli.out and "1/1 outputs on disk" in cli.out


def test_missing_key_names_the_sandbox(tmp_path: Path, cli: Cli) -> None:
    manifest = write_manifest(tmp_path)
    assert cli("run", str(manifest)) == 2
    assert "LEMONDATA_API_KEY is not set" in cli.err and "--sandbox" in cli.err
    assert "Traceback" not in cli.err
    assert not (tmp_path / "shots.lock.json").exists()


def test_usage_errors(tmp_path: Path, cli: Cli) -> None:
    one, two = write_manifest(tmp_path), write_manifest(tmp_path, name="more")
    assert cli("run", str(one), str(two), "--sandbox", "--lockfile", "x.json") == 2
    assert "--lockfile can only be used with a single manifest" in cli.err
    cli.environ["LEMONDATA_API_KEY"] = KEY
    assert cli("run", str(one), "--base-url", "ftp://example.test") == 2
    assert "must be an http(s) URL" in cli.err
    assert cli("run", str(one), "--concurrency", "0") == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\njobs:\n  - id: x\n    prompt: p\n    fps: 500\n")
    assert cli("run", str(bad), "--sandbox") == 2
    assert "nothing was submitted" in cli.err


def test_second_run_on_a_held_lockfile_refuses(tmp_path: Path, cli: Cli) -> None:
    manifest = write_manifest(tmp_path)
    store = LockStore.open(tmp_path / "shots.lock.json")
    try:
        assert cli("run", str(manifest), "--sandbox") == 2
        assert "in use by another vidbatch run" in cli.err
    finally:
        anyio.run(store.close)


def test_confirmation_on_a_terminal(
    tmp_path: Path, cli: Cli, served: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_manifest(tmp_path, 21)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert cli("run", str(manifest), tty=True) == 1
    assert "submit 21 jobs" in cli.err and "nothing was submitted" in cli.err
    assert validate_lockfile(tmp_path / "shots.lock.json")["jobs"] == {}
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli("run", str(manifest), "--only", "shot1*") == 0  # not a terminal
    assert "[y/N]" not in cli.err
    assert len(validate_lockfile(tmp_path / "shots.lock.json")["jobs"]) == 11


def test_failed_job_exits_1_and_key_never_shown(tmp_path: Path, cli: Cli, served: Sandbox) -> None:
    manifest = write_manifest(tmp_path, 2)
    manifest.write_text(manifest.read_text().replace("Shot 1", "Shot 1 FAIL"))
    assert cli("run", str(manifest), "--json") == 1
    assert '"event": "failed"' in cli.out
    assert KEY not in cli.out + cli.err
    assert KEY not in (tmp_path / "shots.lock.json").read_text()
    assert served.counters.file_requests_with_authorization == 0


def test_rejected_key_exits_3(tmp_path: Path, cli: Cli) -> None:
    sandbox = Sandbox(SandboxConfig(task_seconds=(0.05, 0.1), required_key="sk-another"))
    manifest = write_manifest(tmp_path, 2)
    cli.environ["LEMONDATA_API_KEY"] = KEY
    with background(sandbox) as url:
        cli.environ["LEMONDATA_BASE_URL"] = url
        assert cli("run", str(manifest)) == 3
    assert "HTTP 401" in cli.err and KEY not in cli.err
    assert sandbox.counters.tasks_made == 0


def test_download_fetches_missing_outputs(tmp_path: Path, cli: Cli, served: Sandbox) -> None:
    manifest = write_manifest(tmp_path, 2)
    assert cli("run", str(manifest), "--no-download") == 0, cli.err
    assert not (tmp_path / "renders").exists()
    assert cli("verify", str(manifest)) == 1
    assert cli("download", str(manifest)) == 0, cli.err
    assert sorted(p.name for p in (tmp_path / "renders").iterdir()) == ["shot0.mp4", "shot1.mp4"]
    assert cli("verify", str(manifest)) == 0
    assert served.counters.file_requests_with_authorization == 0


def test_status_refresh_polls_tasks_in_flight(tmp_path: Path, cli: Cli, served: Sandbox) -> None:
    manifest = write_manifest(tmp_path, 1)
    lock = tmp_path / "shots.lock.json"
    assert cli("run", str(manifest), "--timeout", "0.01s") == 1
    assert validate_lockfile(lock)["jobs"]["shot0"]["status"] == "timed_out"
    deadline = served.clock() + 5
    while served.clock() < deadline and any(
        task.ends > served.clock() for task in served.tasks.values()
    ):
        time.sleep(0.02)
    assert cli("status", str(manifest), "--refresh", "--json") == 0
    (report,) = json.loads(cli.out)["manifests"]
    assert report["jobs"][0]["status"] == "completed"
    assert validate_lockfile(lock)["jobs"]["shot0"]["outputs"][0]["path"] is None
    assert cli("run", str(manifest)) == 0  # downloads what the refresh found
    assert served.counters.tasks_made == 1


def test_only_matching_nothing_is_an_error(tmp_path: Path, cli: Cli) -> None:
    manifest = write_manifest(tmp_path)
    assert cli("plan", str(manifest), "--only", "shto*") == 2
    assert "--only shto*: no job key matches" in cli.err
    assert cli("run", str(manifest), "--sandbox", "--only", "nope") == 2
    assert not (tmp_path / "shots.lock.json.lock").exists()


def test_download_refreshes_expired_urls(tmp_path: Path, cli: Cli) -> None:
    sandbox = Sandbox(SandboxConfig(task_seconds=(0.05, 0.1), url_ttl=1))
    manifest = write_manifest(tmp_path, 2)
    cli.environ["LEMONDATA_API_KEY"] = KEY
    with background(sandbox) as url:
        cli.environ["LEMONDATA_BASE_URL"] = url
        assert cli("run", str(manifest), "--no-download") == 0, cli.err
        time.sleep(2.1)  # URLs expire at the next whole second after their ttl
        polls = sandbox.counters.polls
        assert cli("download", str(manifest)) == 0, cli.err
    assert sandbox.counters.statuses["403"] == 2
    assert sandbox.counters.polls == polls + 2  # one refresh per job
    assert cli("verify", str(manifest)) == 0


def test_help_lists_every_command_as_each_module_registers_it() -> None:

    for name, help_text in cli_module.COMMANDS.items():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"runner.commands.{name}").register(sub)
        assert [action.help for action in sub._choices_actions] == [help_text]
    out = io.StringIO()
    assert main(["--help"], Context(stdout=out)) == 0
    for name, help_text in cli_module.COMMANDS.items():
        assert f"    {name}" in out.getvalue()
        assert " ".join(help_text.split()[:3]) in " ".join(out.getvalue().split())


def test_console_entry_point_exits_with_mains_code(tmp_path: Path) -> None:

    version = subprocess.run(
        [sys.executable, "-m", "runner", "--version"], capture_output=True, text=True, check=False
    )
    assert (version.returncode, version.stdout.startswith("vidbatch ")) == (0, True)
    usage = subprocess.run(
        [sys.executable, "-m", "runner", "run"], capture_output=True, text=True, check=False
    )
    assert usage.returncode == 2
    assert "the following arguments are required" in usage.stderr
