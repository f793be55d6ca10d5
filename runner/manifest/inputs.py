"""Local input files: confined to the manifest's folder tree, size-limited, hashed.

A value of an input field that is neither an http(s) URL nor a data: URL is a path
relative to the manifest. It is sent inline as a data: URL; its identity in
fingerprints and the lockfile is its path and sha256.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from runner.base.files import open_regular, read_regular
from runner.manifest.job import LocalFile

K = TypeVar("K")
V = TypeVar("V")

INPUT_FIELDS = (
    "image_url",
    "image",
    "reference_images",
    "start_image",
    "end_image",
    "video_url",
    "audio_url",
)
_IMAGE = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
}
_VIDEO = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".m4v": "video/mp4",
}
_AUDIO = {
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
}
MB = 1024 * 1024
# The documented limits: 20 MB per image, 25 MB per audio file. Video is not
# documented; 50 MB keeps a request body a reasonable size.
_KINDS = {
    "image": (_IMAGE, 20 * MB),
    "video": (_VIDEO, 50 * MB),
    "audio": (_AUDIO, 25 * MB),
}
FIELD_KIND = {
    "image_url": "image",
    "image": "image",
    "reference_images": "image",
    "start_image": "image",
    "end_image": "image",
    "video_url": "video",
    "audio_url": "audio",
}


def is_remote(value: str) -> bool:
    """True for http(s) and data: URLs, which are sent as they are."""
    lowered = value[:8].lower()
    return lowered.startswith(("http://", "https://", "data:"))


class InputProblem(Exception):
    """A local input cannot be used; the message is shown after the field's path."""


MAX_PROMPT_FILE = 1024 * 1024


@dataclass
class LocalInputs:
    """Resolves local files below one manifest folder, reading and hashing each once."""

    folder: Path

    def __post_init__(self) -> None:
        self.root = self.folder.resolve()
        self._seen: dict[tuple[str, str], LocalFile | InputProblem] = {}
        self._prompts: dict[str, str | InputProblem] = {}

    def resolve(self, field: str, value: str) -> LocalFile:
        """The LocalFile for ``value`` of ``field``; raises InputProblem."""
        return _once(self._seen, (field, value), lambda: self._resolve(FIELD_KIND[field], value))

    def prompt(self, value: str) -> str:
        """The text of prompt file ``value``, without trailing newlines; raises InputProblem."""
        return _once(self._prompts, value, lambda: self._read_prompt(value))

    def _read_prompt(self, value: str) -> str:
        target = self._inside(value)
        size = _size(target, value)
        if size > MAX_PROMPT_FILE:
            raise InputProblem(f"{_shown(value)}: larger than the {MAX_PROMPT_FILE:,}-byte limit")
        try:
            return read_regular(target, MAX_PROMPT_FILE).decode("utf-8").rstrip("\n")
        except UnicodeDecodeError:
            raise InputProblem(f"{_shown(value)}: not UTF-8 text") from None
        except OSError as err:
            raise InputProblem(f"{_shown(value)}: cannot read: {err.strerror}") from None

    def _inside(self, value: str) -> Path:
        """The real path of ``value`` below the root, links followed; raises InputProblem."""
        relative = PurePosixPath(value.replace("\\", "/"))
        if relative.is_absolute() or (len(value) > 1 and value[1] == ":"):
            raise InputProblem(
                f"{_shown(value)}: absolute paths are not allowed; "
                "use a path relative to the manifest"
            )
        try:
            target = (self.root / relative).resolve()
        except (OSError, ValueError, RuntimeError):
            raise InputProblem(f"{_shown(value)}: not a usable file name") from None
        if not target.is_relative_to(self.root):
            raise InputProblem(f"{_shown(value)}: the path leads outside the manifest's folder")
        return target

    def _resolve(self, kind: str, value: str) -> LocalFile:
        target = self._inside(value)
        types, limit = _KINDS[kind]
        size = _size(target, value)
        mime = types.get(target.suffix.lower())
        if mime is None:
            allowed = ", ".join(sorted(types))
            raise InputProblem(
                f"{_shown(value)}: not a known {kind} type (expected one of {allowed})"
            )
        if size > limit:
            raise InputProblem(
                f"{_shown(value)}: {size:,} bytes; the limit for {kind} files is {limit // MB} MB"
            )
        try:
            digest = sha256_of(target)
        except OSError as err:
            raise InputProblem(f"{_shown(value)}: cannot read: {err.strerror}") from None
        path = target.relative_to(self.root).as_posix()
        return LocalFile(path=path, absolute=target, sha256=digest, mime=mime, size=size)


def _size(target: Path, value: str) -> int:
    """The size of regular file ``target``; raises InputProblem for anything else."""
    try:
        info = target.stat()
    except (OSError, ValueError):
        raise InputProblem(f"{_shown(value)}: no such file") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputProblem(f"{_shown(value)}: is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise InputProblem(f"{_shown(value)}: not a regular file")
    return info.st_size


def _shown(value: str) -> str:
    return value if len(value) <= 80 else value[:77] + "..."


def _once(cache: dict[K, V | InputProblem], key: K, compute: Callable[[], V]) -> V:
    """``compute()`` once per key; a problem is remembered and raised again."""
    found = cache.get(key)
    if found is None:
        try:
            found = compute()
        except InputProblem as problem:
            found = problem
        cache[key] = found
    if isinstance(found, InputProblem):
        raise found
    return found


def sha256_of(path: Path) -> str:
    """The sha256 of a regular file on disk, read in 1 MiB blocks (never waits on a FIFO)."""
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
