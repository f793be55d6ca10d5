"""Files and the disk: modes, confinement, full or read-only disks, hostile inputs."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import files
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
