"""Files and the disk, and inputs from the command line (issue 9).

In order: file modes; the API key and base URL; manifest numbers and keys; a full
disk (os.write and os.replace made to fail in process); read-only folders (real
subprocesses in a mount namespace of their own, as root ignores file modes);
local inputs swapped for a FIFO (a real subprocess, then Ctrl-C); outputs kept
inside output.dir, and names the file system cannot hold.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.base import files
from runner.base.errors import WriteError
from runner.lock import journal, lockfile
from runner.manifest.inputs import LocalInputs, sha256_of
from runner.run import download
from runner.sandbox import Sandbox, SandboxConfig, background
from tests.factory import validate_lockfile
from tests.netguard import no_network  # noqa: F401
from tests.test_run_cli import Cli, write_manifest


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli()


@pytest.fixture
def umask_002() -> Iterator[None]:
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_get_the_modes_the_umask_gives(
    tmp_path: Path, cli: Cli, umask_002: None
) -> None:
    manifest = write_manifest(tmp_path, 1)
    code = cli("run", str(manifest), "--sandbox", "--junit", "j.xml", "--summary", "s.md")
    assert code == 0, cli.err
    assert cli("report", str(manifest)) == 0, cli.err
    written = ["shots.lock.json", "renders/shot0.mp4", "j.xml", "s.md", "shots.report.html"]
    assert {name: oct(mode(tmp_path / name)) for name in written} == dict.fromkeys(
        written, oct(0o664)
    )


def test_temp_files_fit_the_longest_name(tmp_path: Path) -> None:
    fd, tmp = files.temp_beside(tmp_path / ("é" * 125 + "x.mp4"), ".part")  # 255 bytes
    os.close(fd)
    assert len(Path(tmp).name.encode()) <= files.NAME_MAX
    files.write_atomic(tmp_path / ("y" * 255), b"data")
    assert (tmp_path / ("y" * 255)).read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([Path(tmp).name, "y" * 255])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1", "is not a valid URL (Invalid port: ':1')"),
        ("http://exa mple.com", "holds a space or a control character"),
        ("http://:80", "has no host name"),
        ("http://example.com:99999", "has port 99999; a port is 1 to 65535"),
        ("http://example.com:0", "has port 0; a port is 1 to 65535"),
        ("http://-bad-.example", "has an invalid host name '-bad-.example'"),
        ("ftp://example.com", "must be an http(s) URL"),
    ],
)
def test_malformed_base_url_is_a_usage_error(
    tmp_path: Path, cli: Cli, url: str, message: str
) -> None:
    cli.environ["LEMONDATA_API_KEY"] = "sk-test"
    assert cli("run", str(write_manifest(tmp_path, 1)), "--base-url", url) == 2
    assert cli.err == f"vidbatch: error: the API base URL {url!r} {message}\n"
    assert not (tmp_path / "shots.lock.json").exists()


def test_base_url_password_is_not_shown(tmp_path: Path, cli: Cli) -> None:
    cli.environ["LEMONDATA_API_KEY"] = "sk-test"
    url = "http://user:hunter2@exa mple.com"
    assert cli("run", str(write_manifest(tmp_path, 1)), "--base-url", url) == 2
    assert "hunter2" not in cli.err and "'http://***@exa mple.com'" in cli.err


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("sk-ünicode", "contains a non-ASCII character at character 4"),
        ("sk-abc\r\nX-Evil: 1", "contains a line break (CR or LF) at character 7"),
        ("sk-a\nb", "contains a line break (CR or LF) at character 5"),
        ("sk-a\x00b", "contains a control character or space at character 5"),
        ("sk-a b", "contains a control character or space at character 5"),
    ],
)
def test_api_key_httpx_cannot_send_is_a_usage_error(
    tmp_path: Path, cli: Cli, key: str, problem: str
) -> None:
    cli.environ["LEMONDATA_API_KEY"] = key
    manifest = str(write_manifest(tmp_path, 1))
    for command in (["run", manifest], ["status", manifest, "--refresh"]):
        assert cli(*command, "--base-url", "http://127.0.0.1:9") == 2
        assert cli.err == (
            f"vidbatch: error: LEMONDATA_API_KEY {problem}, which an HTTP header cannot "
            "carry (header values are validated); export the key exactly as it was issued\n"
        )


def test_integer_of_thousands_of_digits_is_a_diagnostic(tmp_path: Path, cli: Cli) -> None:
    manifest = tmp_path / "big.yaml"
    manifest.write_text(
        "version: 1\njobs:\n  - id: a\n    prompt: hi\n"
        f"    seed: {'9' * 5000}\n    extra: {{x: 0x{'f' * 590}}}\n"
    )
    assert cli("validate", str(manifest)) == 2
    assert cli.err.splitlines() == [
        f"{manifest}:5:11: error: an integer of over 600 digits is too large",
        f"{manifest}:6:16: error: an integer of over 600 digits is too large",
        "vidbatch: 2 error(s) in manifest; nothing was submitted",
    ]


@pytest.mark.parametrize("section", ["rate", "timeout", "poll: {initial", "poll: {max"])
def test_integer_past_the_float_range_in_run_settings_is_no_traceback(
    tmp_path: Path, cli: Cli, section: str
) -> None:
    manifest = tmp_path / "run.yaml"
    close = "}" if "{" in section else ""
    manifest.write_text(
        f"version: 1\nrun: {{{section}: {'9' * 599}{close}}}\njobs:\n  - id: a\n    prompt: hi\n"
    )
    code = cli("validate", str(manifest))
    assert "Traceback" not in cli.err and code == (2 if section == "rate" else 0), cli.err


def test_non_ascii_manifest_keys_are_diagnostics(tmp_path: Path, cli: Cli) -> None:
    manifest = tmp_path / "keys.yaml"
    manifest.write_text(
        "version: 1\nvars: {stÿle: x}\njobs:\n  - id: a\n    prompt: hi\n    prömpt: x\n",
        encoding="utf-8",
    )
    assert cli("validate", str(manifest)) == 2
    assert cli.err.splitlines() == [
        f"{manifest}:2:8: error: vars.stÿle: not a valid variable name "
        "(letters, digits and _, not starting with a digit)",
        f"{manifest}:6:5: error: jobs[0].prömpt: unknown field; did you mean prompt?",
        "vidbatch: 2 error(s) in manifest; nothing was submitted",
    ]


class FullDisk:
    """os.write and os.replace fail with ENOSPC once a task id is to be journaled."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, recovers: bool = False) -> None:
        self.full = False
        self.recovers = recovers
        real_write, real_replace = os.write, os.replace

        def write(fd: int, data: Any) -> int:
            if self.full or b'"task_id":"' in bytes(data):
                self.full = True
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(fd, data)

        def replace(src: Any, dst: Any) -> None:
            if self.full and not self.recovers:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.full = False
            real_replace(src, dst)

        monkeypatch.setattr(os, "write", write)
        monkeypatch.setattr(os, "replace", replace)


@pytest.fixture
def served(cli: Cli) -> Iterator[Sandbox]:
    sandbox = Sandbox(SandboxConfig(task_seconds=(0.05, 0.1)))
    with background(sandbox) as url:
        cli.environ["LEMONDATA_API_KEY"] = "sk-disk-test"
        cli.environ["LEMONDATA_BASE_URL"] = url
        yield sandbox


def test_disk_full_mid_run_prints_every_task_id_not_recorded(
    tmp_path: Path, cli: Cli, served: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_manifest(tmp_path, 3)
    FullDisk(monkeypatch)
    assert cli("run", str(manifest)) == 1, cli.err
    monkeypatch.undo()
    journal = tmp_path / "shots.lock.json.journal"
    assert f"vidbatch: error: cannot write {journal}: No space left on device; the run stopped" in (
        cli.err
    )
    assert "Traceback" not in cli.err
    printed = dict(line.split() for line in cli.err.splitlines() if line.startswith("  "))
    assert set(printed.values()) == set(served.tasks) != set()
    assert f"{len(printed)} task id(s) are not recorded in shots.lock.json" in cli.err
    # What reached the disk is intact, and the next run can read it.
    saved = lockfile.read(tmp_path / "shots.lock.json")["jobs"].values()
    assert {e["task_id"] for e in saved if e["task_id"]}.isdisjoint(printed.values())


def test_disk_full_then_freed_keeps_every_task_id_in_the_lockfile(
    tmp_path: Path, cli: Cli, served: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_manifest(tmp_path, 3)
    FullDisk(monkeypatch, recovers=True)
    assert cli("run", str(manifest), "--json") == 1, cli.err
    monkeypatch.undo()
    assert "every task id the API returned is recorded in the lockfile" in cli.err
    summary = json.loads(cli.out.splitlines()[-1])
    assert summary["write_error"].endswith("No space left on device")
    assert summary["unsaved_tasks"] == {}
    doc = validate_lockfile(tmp_path / "shots.lock.json")
    recorded = {e["task_id"] for e in doc["jobs"].values() if e["task_id"]}
    assert recorded == set(served.tasks) != set()
    assert not (tmp_path / "shots.lock.json.journal").exists()
    # The next run resumes those tasks instead of submitting them again.
    assert cli("run", str(manifest)) == 0, cli.err
    assert len(served.tasks) == 3


def test_journal_write_failure_leaves_no_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    log = journal.Journal(path)

    async def main() -> None:
        await log.append([{"job": "a", "put": {}}])
        real = os.write

        def half(fd: int, data: Any) -> int:
            real(fd, bytes(data)[:5])
            raise OSError(errno.ENOSPC, "No space left on device")

        os.write = half  # type: ignore[assignment]
        try:
            with pytest.raises(WriteError, match="No space left on device"):
                await log.append([{"job": "b", "put": {}}])
        finally:
            os.write = real
        with pytest.raises(WriteError):  # refused, not appended after a gap
            await log.append([{"job": "c", "put": {}}])

    anyio.run(main)
    log.close()
    assert journal.parse(path.read_bytes(), "j") == [{"job": "a", "put": {}}]
    assert path.read_bytes() == journal.encode({"job": "a", "put": {}})


def read_only_run(folder: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``vidbatch args`` in a mount namespace of its own where ``folder`` is read-only.

    Root ignores file modes, so a read-only bind mount is the one honest way to
    make a folder unwritable; the namespace takes the mount away with the process.
    """
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    mount = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1"'
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f'{mount} && ! touch "$1/.probe"', "sh", str(folder)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode:
        pytest.skip(f"no read-only bind mounts here: {probe.stderr.strip()}")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PROXY")}
    env["LEMONDATA_API_KEY"] = "sk-read-only-test"
    command = ["unshare", "-m", "sh", "-c", f'{mount} && shift && exec "$@"', "sh", str(folder)]
    return subprocess.run(
        [*command, sys.executable, "-m", "runner", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_read_only_folders_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    manifest = write_manifest(project, 2)
    (project / "renders").mkdir()
    reports = tmp_path / "reports"
    reports.mkdir()

    junit = read_only_run(
        reports, project, "run", "shots.yaml", "--sandbox", "--junit", str(reports / "j.xml")
    )
    assert junit.returncode == 2, junit.stderr
    assert junit.stderr == (
        f"vidbatch: error: --junit {reports / 'j.xml'}: "
        "cannot write there (Read-only file system)\n"
    )
    assert not (project / "shots.lock.json").exists()

    locked = read_only_run(project, project, "run", "shots.yaml", "--sandbox", "--no-download")
    assert locked.returncode == 2, locked.stderr
    assert locked.stderr == (
        f"vidbatch: error: cannot write the lockfile {project / 'shots.lock.json'}: "
        "Read-only file system\n"
    )

    renders = project / "renders"
    outputs = read_only_run(renders, project, "run", "shots.yaml", "--sandbox")
    assert outputs.returncode == 2, outputs.stderr
    assert outputs.stderr == (
        f"vidbatch: error: shots.yaml: output.dir {renders}: "
        "cannot write there (Read-only file system)\n"
    )
    assert lockfile.read(project / "shots.lock.json")["jobs"] == {}
    assert manifest.exists() and not list(renders.iterdir())

    # Once every output is on disk, a read-only output.dir is no obstacle.
    done = read_only_run(tmp_path / "reports", project, "run", "shots.yaml", "--sandbox")
    assert done.returncode == 0, done.stderr
    again = read_only_run(renders, project, "run", "shots.yaml", "--sandbox")
    assert again.returncode == 0, again.stderr
    assert "summary: 2 completed" in again.stderr


def test_outputs_that_cannot_be_saved_mid_run_are_warnings_and_exit_1(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(dest: Path, suffix: str = ".tmp") -> tuple[int, str]:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(download, "temp_beside", full)
    manifest = write_manifest(tmp_path, 2)
    assert cli("run", str(manifest), "--sandbox") == 1, cli.err
    assert "cannot save shot0.mp4: No space left on device" in cli.err
    assert "summary: 2 completed" in cli.err and "2 output(s) not on disk" in cli.err
    doc = validate_lockfile(tmp_path / "shots.lock.json")
    assert all(e["task_id"] and e["status"] == "completed" for e in doc["jobs"].values())


def test_unwritable_report_paths_are_refused_before_anything_is_sent(
    tmp_path: Path, cli: Cli
) -> None:
    manifest = str(write_manifest(tmp_path, 1))
    (tmp_path / "file").write_text("")
    (tmp_path / "folder").mkdir()
    cases = [
        (
            ["--junit", "file/j.xml"],
            "--junit file/j.xml: cannot write there (file is not a directory)",
        ),
        (["--summary", "folder"], "--summary folder: cannot write there (is a directory)"),
    ]
    for flags, message in cases:
        assert cli("run", manifest, "--sandbox", *flags) == 2
        assert cli.err == f"vidbatch: error: {message}\n"
    cli.environ["GITHUB_STEP_SUMMARY"] = str(tmp_path / "file" / "step.md")
    assert cli("run", manifest, "--sandbox") == 2
    assert cli.err == (
        f"vidbatch: error: $GITHUB_STEP_SUMMARY {tmp_path / 'file' / 'step.md'}: "
        "cannot append to it (Not a directory)\n"
    )
    assert not (tmp_path / "shots.lock.json").exists()
    assert cli("report", manifest, "-o", "file/r.html") == 1
    assert cli.err.startswith("vidbatch: error: cannot write the report file/r.html: ")
    cli.environ["XDG_CACHE_HOME"] = str(tmp_path / "file")
    assert cli("models", "--refresh", "--sandbox") == 1
    cache = tmp_path / "file" / "vidbatch" / "models.json"
    assert cli.err.startswith(f"vidbatch: error: cannot write the model cache {cache}: ")


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


@pytest.mark.timeout(10)
def test_input_swapped_for_a_fifo_after_validation_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "shoe.png").write_bytes(PNG)
    found = LocalInputs(tmp_path).resolve("image_url", "shoe.png")
    (tmp_path / "shoe.png").unlink()
    os.mkfifo(tmp_path / "shoe.png")  # no writer: a blocking open would wait for ever
    with pytest.raises(files.NotRegular, match="is a named pipe"):
        found.data_url()
    with pytest.raises(files.NotRegular, match="is a named pipe"):
        sha256_of(tmp_path / "shoe.png")
    with pytest.raises(files.NotRegular, match="is a device"):
        files.read_regular(Path("/dev/zero"))


def start_image_run(manifest: Path, url: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PROXY")}
    env["LEMONDATA_API_KEY"] = "sk-fifo-test"
    command = [sys.executable, "-m", "runner", "run", str(manifest), "--base-url", url]
    return subprocess.Popen(
        [*command, "--json", "--yes"],
        cwd=manifest.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_fifo_input_does_not_hang_the_run_and_ctrl_c_still_works(tmp_path: Path) -> None:
    (tmp_path / "shoe.png").write_bytes(PNG)
    manifest = tmp_path / "fifo.yaml"
    texts = "\n".join(f"  - id: later{i}\n    prompt: Later shot {i}" for i in range(4))
    manifest.write_text(
        "version: 1\n"
        "defaults: {model: kling-v2.6-pro, duration: 5}\n"
        "run: {concurrency: 1, rate: 50, timeout: 1m, poll: {initial: 50ms, max: 100ms}}\n"
        "output: {dir: renders}\n"
        "jobs:\n"
        "  - id: first\n    prompt: First shot\n"
        "  - id: spin\n    prompt: Spin\n    image_url: shoe.png\n"
        f"{texts}\n"
    )
    sandbox = Sandbox(SandboxConfig(task_seconds=(1.0, 1.0)))
    with background(sandbox) as url:
        run = start_image_run(manifest, url)
        try:
            assert run.stdout is not None
            events = (json.loads(line) for line in run.stdout)
            first = next(e for e in events if e["event"] == "submitted")
            assert first["job"] == "first"
            (tmp_path / "shoe.png").unlink()
            os.mkfifo(tmp_path / "shoe.png")
            failed = next(e for e in events if e["event"] in ("failed", "submitted"))
            assert (failed["event"], failed["job"]) == ("failed", "spin")
            assert "is a named pipe (FIFO), not a regular file" in failed["message"]
            next(e for e in events if e["event"] == "submitted")  # the run goes on
            run.send_signal(signal.SIGINT)
            _, err = run.communicate(timeout=20)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
    assert run.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted: state saved" in err


def confined_manifest(folder: Path, name: str, extra: str = "") -> Path:
    manifest = folder / "shots.yaml"
    manifest.write_text(
        "version: 1\n"
        "defaults: {model: kling-v2.6-pro, duration: 5}\n"
        "run: {concurrency: 4, rate: 50, timeout: 1m, poll: {initial: 50ms, max: 200ms}}\n"
        f"output: {{dir: renders, name: '{name}'}}\n"
        f"jobs:\n  - id: shot0\n    prompt: Shot 0\n{extra}"
    )
    return manifest


def files_below(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_seed_in_the_lockfile_never_takes_an_output_outside_output_dir(
    tmp_path: Path, cli: Cli, served: Sandbox
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    manifest = confined_manifest(project, "${seed}.mp4", "    seed: random\n")
    assert cli("run", str(manifest)) == 0, cli.err
    lock = project / "shots.lock.json"
    doc = json.loads(lock.read_text())
    entry = doc["jobs"]["shot0"]
    (project / entry["outputs"][0]["path"]).unlink()
    entry["seed"] = "../../evil"
    lock.write_text(json.dumps(doc))
    cli("download", str(manifest))
    assert "Traceback" not in cli.err
    assert files_below(tmp_path) == [
        "project/renders/_.mp4",
        "project/shots.lock.json",
        "project/shots.yaml",
    ]


def test_a_symlinked_folder_never_takes_an_output_outside_output_dir(
    tmp_path: Path, cli: Cli, served: Sandbox
) -> None:
    manifest = confined_manifest(tmp_path, "sub/${job}.mp4")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "renders").mkdir()
    (tmp_path / "renders" / "sub").symlink_to(tmp_path / "elsewhere")
    assert cli("run", str(manifest)) == 1, cli.err
    dest = tmp_path / "renders" / "sub" / "shot0.mp4"
    assert f"not writing {dest}: a symlink in the way leads outside output.dir" in cli.err
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_names_longer_than_the_file_system_takes_are_refused_by_validate(
    tmp_path: Path, cli: Cli
) -> None:
    manifest = confined_manifest(tmp_path, "${job}-" + "x" * 251 + ".mp4")
    assert cli("validate", str(manifest)) == 2
    assert cli.err.splitlines() == [
        f"{manifest}:4:30: error: output.name: shot0 would write a name of 261 bytes; "
        "the limit is 255; shorten output.name or the values in it",
        "vidbatch: 1 error(s) in manifest; nothing was submitted",
    ]
    deep = "/".join(["d" * 200] * 21) + "/${job}.mp4"  # each name fits, the path does not
    manifest = confined_manifest(tmp_path, deep)
    assert cli("validate", str(manifest)) == 2
    assert "shot0 would write a path longer than the limit of 4096 bytes" in cli.err
    assert cli("run", str(manifest), "--sandbox") == 2
    assert not (tmp_path / "shots.lock.json").exists()
    manifest = confined_manifest(tmp_path, "é" * 123 + "${job}.mp4")  # 255 bytes
    assert cli("validate", str(manifest)) == 0, cli.err


def test_a_path_or_key_in_the_lockfile_never_takes_an_output_outside_output_dir(
    tmp_path: Path, cli: Cli, served: Sandbox
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    manifest = confined_manifest(project, "${job}.mp4")
    assert cli("run", str(manifest)) == 0, cli.err
    lock = project / "shots.lock.json"
    doc = json.loads(lock.read_text())
    (project / "renders" / "shot0.mp4").unlink()
    doc["jobs"]["shot0"]["outputs"][0]["path"] = "../../outside.mp4"
    doc["jobs"]["../../evil"] = dict(doc["jobs"]["shot0"])
    lock.write_text(json.dumps(doc))
    assert cli("run", str(manifest)) == 0, cli.err
    assert "Traceback" not in cli.err
    assert files_below(tmp_path) == [
        "project/renders/shot0.mp4",
        "project/shots.lock.json",
        "project/shots.yaml",
    ]
    (entry,) = validate_lockfile(lock)["jobs"].values()
    assert entry["outputs"][0]["path"] == "renders/shot0.mp4"
