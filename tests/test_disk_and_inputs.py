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
