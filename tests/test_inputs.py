"""runner.manifest.inputs: local files confined to the manifest's folder, typed, limited, hashed."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from runner.manifest.inputs import MAX_PROMPT_FILE, MB, InputProblem, LocalInputs, is_remote
from runner.manifest.job import ChangedInputError

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "assets").mkdir(parents=True)
    (root / "assets" / "shoe.png").write_bytes(PNG)
    return root


def problem(inputs: LocalInputs, field: str, value: str) -> str:
    with pytest.raises(InputProblem) as caught:
        inputs.resolve(field, value)
    return str(caught.value)


@pytest.mark.parametrize(
    ("value", "remote"),
    [
        ("https://example.com/a.jpg", True),
        ("http://example.com/a.jpg", True),
        ("HTTPS://EXAMPLE.COM/A.JPG", True),
        ("data:image/png;base64,AAAA", True),
        ("DATA:image/png;base64,AAAA", True),
        ("assets/a.jpg", False),
        ("ftp://example.com/a.jpg", False),
        ("https:/one-slash.jpg", False),
        ("", False),
    ],
)
def test_is_remote(value: str, remote: bool) -> None:
    assert is_remote(value) is remote


def test_a_local_file_is_identified_by_path_and_sha256(folder: Path) -> None:
    found = LocalInputs(folder).resolve("image_url", "assets/shoe.png")
    assert found.path == "assets/shoe.png"
    assert found.absolute == (folder / "assets" / "shoe.png").resolve()
    assert found.sha256 == hashlib.sha256(PNG).hexdigest()
    assert found.mime == "image/png"
    assert found.size == len(PNG)
    assert found.identity() == {"path": "assets/shoe.png", "sha256": found.sha256}


def test_the_data_url_carries_the_bytes_and_checks_they_did_not_change(folder: Path) -> None:
    found = LocalInputs(folder).resolve("image", "assets/shoe.png")
    assert found.data_url() == "data:image/png;base64," + base64.b64encode(PNG).decode()
    (folder / "assets" / "shoe.png").write_bytes(PNG + b"changed")
    with pytest.raises(ChangedInputError):
        found.data_url()


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("./assets/shoe.png", "assets/shoe.png"),
        ("assets/../assets/shoe.png", "assets/shoe.png"),
        ("assets\\shoe.png", "assets/shoe.png"),
        ("assets//shoe.png", "assets/shoe.png"),
    ],
)
def test_spellings_of_the_same_file_resolve_to_one_path(
    folder: Path, value: str, path: str
) -> None:
    assert LocalInputs(folder).resolve("image_url", value).path == path


def test_each_file_is_read_once(folder: Path) -> None:
    inputs = LocalInputs(folder)
    first = inputs.resolve("image_url", "assets/shoe.png")
    (folder / "assets" / "shoe.png").write_bytes(b"other bytes, same name.png")
    assert inputs.resolve("image_url", "assets/shoe.png") is first


def test_a_problem_is_remembered_too(folder: Path) -> None:
    inputs = LocalInputs(folder)
    assert problem(inputs, "image_url", "assets/later.png") == "assets/later.png: no such file"
    (folder / "assets" / "later.png").write_bytes(PNG)
    assert problem(inputs, "image_url", "assets/later.png") == "assets/later.png: no such file"


@pytest.mark.parametrize(
    ("field", "name", "mime"),
    [
        ("image_url", "a.JPG", "image/jpeg"),
        ("start_image", "a.jpeg", "image/jpeg"),
        ("end_image", "a.webp", "image/webp"),
        ("reference_images", "a.gif", "image/gif"),
        ("image", "a.bmp", "image/bmp"),
        ("video_url", "a.mp4", "video/mp4"),
        ("video_url", "a.MOV", "video/quicktime"),
        ("video_url", "a.webm", "video/webm"),
        ("video_url", "a.m4v", "video/mp4"),
        ("audio_url", "a.mp3", "audio/mpeg"),
        ("audio_url", "a.wav", "audio/wav"),
        ("audio_url", "a.m4a", "audio/mp4"),
        ("audio_url", "a.aac", "audio/aac"),
        ("audio_url", "a.ogg", "audio/ogg"),
        ("audio_url", "a.flac", "audio/flac"),
    ],
)
def test_the_mime_type_follows_the_extension(
    folder: Path, field: str, name: str, mime: str
) -> None:
    (folder / name).write_bytes(b"x")
    assert LocalInputs(folder).resolve(field, name).mime == mime


def test_a_file_of_the_wrong_kind_is_refused(folder: Path) -> None:
    (folder / "clip.mp4").write_bytes(b"x")
    (folder / "noext").write_bytes(b"x")
    inputs = LocalInputs(folder)
    assert problem(inputs, "image_url", "clip.mp4") == (
        "clip.mp4: not a known image type (expected one of .bmp, .gif, .jpeg, .jpg, .png, .webp)"
    )
    assert problem(inputs, "audio_url", "assets/shoe.png") == (
        "assets/shoe.png: not a known audio type "
        "(expected one of .aac, .flac, .m4a, .mp3, .ogg, .wav)"
    )
    assert problem(inputs, "video_url", "noext") == (
        "noext: not a known video type (expected one of .m4v, .mov, .mp4, .webm)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("../outside.png", "../outside.png: the path leads outside the manifest's folder"),
        ("assets/../../x.png", "assets/../../x.png: the path leads outside the manifest's folder"),
        (
            "/etc/passwd.png",
            "/etc/passwd.png: absolute paths are not allowed; use a path relative to the manifest",
        ),
        (
            "C:/frames/a.png",
            "C:/frames/a.png: absolute paths are not allowed; use a path relative to the manifest",
        ),
        (
            "\\\\server\\share\\a.png",
            "\\\\server\\share\\a.png: absolute paths are not allowed; "
            "use a path relative to the manifest",
        ),
        ("assets", "assets: is a directory, not a file"),
        ("assets/missing.png", "assets/missing.png: no such file"),
        ("bad\x00name.png", "bad\x00name.png: not a usable file name"),
        pytest.param("x" * 5000 + ".png", "x" * 77 + "...: no such file", id="name-too-long"),
    ],
)
def test_refusals(folder: Path, value: str, message: str) -> None:
    (folder.parent / "outside.png").write_bytes(PNG)
    assert problem(LocalInputs(folder), "image_url", value) == message


def test_a_fifo_is_not_a_file(folder: Path) -> None:
    os.mkfifo(folder / "pipe.png")
    os.mkfifo(folder / "pipe.txt")
    inputs = LocalInputs(folder)
    assert problem(inputs, "image_url", "pipe.png") == "pipe.png: not a regular file"
    with pytest.raises(InputProblem) as caught:
        inputs.prompt("pipe.txt")
    assert str(caught.value) == "pipe.txt: not a regular file"


def test_symlinks_are_followed_but_must_stay_inside(folder: Path) -> None:
    outside = folder.parent / "secret.png"
    outside.write_bytes(PNG)
    os.symlink(outside, folder / "out.png")
    os.symlink(folder / "assets" / "shoe.png", folder / "in.png")
    os.symlink(folder.parent, folder / "up")
    inputs = LocalInputs(folder)
    assert problem(inputs, "image_url", "out.png") == (
        "out.png: the path leads outside the manifest's folder"
    )
    assert problem(inputs, "image_url", "up/secret.png") == (
        "up/secret.png: the path leads outside the manifest's folder"
    )
    assert inputs.resolve("image_url", "in.png").path == "assets/shoe.png"


def test_a_symlink_loop_is_refused(folder: Path) -> None:
    os.symlink(folder / "loop-b.png", folder / "loop-a.png")
    os.symlink(folder / "loop-a.png", folder / "loop-b.png")
    assert problem(LocalInputs(folder), "image_url", "loop-a.png") in {
        "loop-a.png: not a usable file name",
        "loop-a.png: no such file",
    }


def test_the_manifest_folder_itself_may_be_reached_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.png").write_bytes(PNG)
    os.symlink(real, tmp_path / "link")
    assert LocalInputs(tmp_path / "link").resolve("image_url", "a.png").path == "a.png"


@pytest.mark.parametrize(
    ("field", "name", "limit", "kind"),
    [("image_url", "big.png", 20, "image"), ("video_url", "big.mp4", 50, "video")],
)
def test_size_limits(folder: Path, field: str, name: str, limit: int, kind: str) -> None:
    with (folder / name).open("wb") as handle:
        handle.truncate(limit * MB)
    inputs = LocalInputs(folder)
    assert inputs.resolve(field, name).size == limit * MB
    with (folder / f"over-{name}").open("wb") as handle:
        handle.truncate(limit * MB + 1)
    assert problem(inputs, field, f"over-{name}") == (
        f"over-{name}: {limit * MB + 1:,} bytes; the limit for {kind} files is {limit} MB"
    )


def test_a_prompt_file_is_read_without_trailing_newlines(folder: Path) -> None:
    (folder / "p.txt").write_text("A cat\nin a garden\n\n", encoding="utf-8")
    inputs = LocalInputs(folder)
    assert inputs.prompt("p.txt") == "A cat\nin a garden"
    (folder / "p.txt").write_text("changed", encoding="utf-8")
    assert inputs.prompt("p.txt") == "A cat\nin a garden"  # read once per load


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("latin.txt", b"caf\xe9", "latin.txt: not UTF-8 text"),
        ("missing.txt", None, "missing.txt: no such file"),
        ("../up.txt", b"x", "../up.txt: the path leads outside the manifest's folder"),
        ("assets", None, "assets: is a directory, not a file"),
        (
            "huge.txt",
            b"x" * (MAX_PROMPT_FILE + 1),
            "huge.txt: larger than the 1,048,576-byte limit",
        ),
    ],
)
def test_prompt_file_refusals(folder: Path, name: str, content: bytes | None, message: str) -> None:
    if content is not None:
        (folder / name).write_bytes(content)
    inputs = LocalInputs(folder)
    for _ in range(2):
        with pytest.raises(InputProblem) as caught:
            inputs.prompt(name)
        assert str(caught.value) == message
