"""What a validated manifest resolves to: settings, and one Job per job key.

These are plain values: the engine, the planner and the reporters take them and
never look at YAML or at the command line.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import operator
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from runner.base import files

if TYPE_CHECKING:
    from runner.base.diagnostics import Diagnostic

SeedMode = Literal["fixed", "derived", "random"]


@dataclass(frozen=True)
class LocalFile:
    """A local input, sent as a data: URL; identified by its path and sha256."""

    path: str  # relative to the manifest's folder, POSIX separators
    absolute: Path
    sha256: str
    mime: str
    size: int

    def identity(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256}

    def data_url(self) -> str:
        # Read without blocking: the file may have been swapped for a FIFO since.
        data = files.read_regular(self.absolute, self.size)
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise ChangedInputError(self.path)
        return f"data:{self.mime};base64,{base64.b64encode(data).decode('ascii')}"


class ChangedInputError(Exception):
    """A local input changed between validation and submission."""


@dataclass(frozen=True)
class RunSettings:
    """Execution settings (manifest ``run:``, overridden by flags)."""

    concurrency: int = 4
    rate: float = 2.0  # API requests per second, creates and polls together
    timeout: float = 20 * 60.0  # seconds per task, submission to final status
    poll_initial: float = 5.0
    poll_max: float = 30.0
    retry_failed: int = 0
    max_cost: Decimal | None = None  # USD: a hard budget for this manifest's creates


@dataclass(frozen=True)
class OutputSettings:
    """Where outputs go: ``dir`` is absolute; ``name`` is a template."""

    dir: Path
    name: str = "${job}.mp4"


@dataclass(frozen=True)
class Job:
    """One job key of a manifest, fully resolved and validated.

    ``request`` is the body to send, except that local inputs are LocalFile values
    and a ``seed: random`` job has no seed yet (``seed_mode == "random"``); it is
    not changed after the Job is made (its fingerprint is kept once read).
    """

    key: str
    job_id: str
    index: int  # position of the job in the manifest's ``jobs`` list
    request: Mapping[str, Any]
    seed_mode: SeedMode
    line: int = 0  # 1-based line of the job in the manifest, for messages

    @functools.cached_property
    def fingerprint(self) -> str:
        """The request's identity: "sha256:" + hex of the canonical JSON of
        ``locked_request(None)``.

        Worked out on first use: validating or planning a manifest without a
        lockfile needs none (a tenth of the time of a 100,000-job manifest).
        """
        return fingerprint(self.locked_request(None))

    @property
    def model(self) -> str:
        return str(self.request.get("model", "sora-2"))

    @property
    def operation(self) -> str:
        return str(self.request["operation"])

    @property
    def seed(self) -> int | None:
        seed = self.request.get("seed")
        return seed if isinstance(seed, int) else None

    def locked_request(self, seed: int | None) -> dict[str, Any]:
        """The request as the lockfile records it: local files as {path, sha256}.

        ``seed`` is the seed drawn for a ``seed: random`` job (None before one is drawn).
        """
        body = {k: identity(v) for k, v in self.request.items()}
        if self.seed_mode == "random" and seed is not None:
            body["seed"] = seed
        return body

    def body(self, seed: int | None) -> dict[str, Any]:
        """The JSON body to POST: local files inlined as data: URLs."""
        body = {k: _inline(v) for k, v in self.request.items()}
        if self.seed_mode == "random":
            if seed is None:
                raise ValueError("a seed: random job needs its drawn seed")
            body["seed"] = seed
        return body


def draw_seed() -> int:
    """A fresh seed for ``seed: random`` (31 bits, accepted by every model)."""
    return secrets.randbelow(2**31)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """The canonical JSON text used for fingerprints."""
    return _CANONICAL.encode(value)


def fingerprint(locked_request: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(canonical_json(locked_request).encode("utf-8")).hexdigest()
    return f"sha256:{digest}"


@dataclass(frozen=True)
class Manifest:
    """A validated manifest: its settings and its jobs in expansion order."""

    path: Path  # as given on the command line
    display: str  # how messages name it
    run: RunSettings
    output: OutputSettings
    jobs: tuple[Job, ...]
    vars: Mapping[str, Any] = field(default_factory=dict)
    allow_unknown_models: bool = False
    warnings: tuple[Diagnostic, ...] = ()  # what the model catalog doubts, located

    @property
    def folder(self) -> Path:
        return self.path.resolve().parent

    def output_path(self, job: Job, seed: int | None, index: int, count: int = 1) -> Path:
        """The file for output ``index`` (0-based) of ``job``, inside ``output.dir``."""
        return self.output.dir / output_name(self.output.name, job, seed, index, count)

    def default_lockfile(self) -> Path:
        """``demo.yaml`` locks to ``demo.lock.json`` beside it."""
        return self.path.with_name(self.path.name.rsplit(".", 1)[0] + ".lock.json")


def identity(value: Any) -> Any:
    """``value`` as fingerprints and the lockfile see it: local files as {path, sha256}."""
    if isinstance(value, LocalFile):
        return value.identity()
    if isinstance(value, list):
        return [identity(v) for v in value]
    if isinstance(value, dict):  # kling_elements: images inside each element
        return {k: identity(v) for k, v in value.items()}
    return value


def _inline(value: Any) -> Any:
    if isinstance(value, LocalFile):
        return value.data_url()
    if isinstance(value, list):
        return [_inline(v) for v in value]
    if isinstance(value, dict):
        return {k: _inline(v) for k, v in value.items()}
    return value


_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+\[\]-]")
OUTPUT_NAME_VARS = ("job", "model", "seed", "index", "operation", "id")
SAFE_MAX = 200  # characters (ASCII, so bytes) of one substituted value


def safe_component(text: str) -> str:
    """``text`` made safe as one file-name component: no separators, no leading dot."""
    if not text.startswith(".") and _UNSAFE.search(text) is None:
        return text[:SAFE_MAX] or "_"
    cleaned = _UNSAFE.sub("_", text).lstrip(".")
    return cleaned[:SAFE_MAX] or "_"


_UNSAFE_BUT_NEWLINE = re.compile(r"[^A-Za-z0-9._=,+\[\]\n-]")


def safe_components(texts: Sequence[str]) -> list[str]:
    """``safe_component`` of each of ``texts``, the replacing done in one pass."""
    joined = "\n".join(texts)
    if texts and joined.count("\n") == len(texts) - 1:  # no newline in a text
        cleaned = _UNSAFE_BUT_NEWLINE.sub("_", joined).split("\n")
        if all_safe_but_characters(cleaned):
            return cleaned
    return [safe_component(text) for text in texts]


def all_safe_but_characters(texts: Sequence[str]) -> bool:
    """None of ``texts`` is empty, starts with a dot or is longer than SAFE_MAX."""
    return (
        all(texts)
        and max(map(len, texts), default=0) <= SAFE_MAX
        and not any(map(operator.methodcaller("startswith", "."), texts))
    )


def all_safe(texts: Sequence[str]) -> bool:
    """Whether ``safe_component`` leaves every one of ``texts`` as it is (loops in C:
    100,000 job keys are checked in milliseconds)."""
    return all_safe_but_characters(texts) and _UNSAFE.search("".join(texts)) is None


def _seed_text(seed: Any) -> str:
    """A seed in a file name: only a whole number is (a lockfile may hold anything)."""
    if isinstance(seed, int) and not isinstance(seed, bool) and abs(seed) < 10**20:
        return str(seed)
    return "_"


def output_name(template: str, job: Job, seed: int | None, index: int, count: int = 1) -> str:
    """Render ``output.name`` for one output; substituted values cannot add path parts.

    When a task returns several videos and the template has no ``${index}``, the
    second and later files get ``-1``, ``-2``, ... before the extension.
    """
    pieces = []
    for literal, var in _template_parts(template):
        pieces.append(literal)
        if var == "job":
            pieces.append(safe_component(job.key))
        elif var == "id":
            pieces.append(safe_component(job.job_id))
        elif var == "model":
            pieces.append(safe_component(job.model))
        elif var == "seed":
            pieces.append(_seed_text(seed))
        elif var == "index":
            pieces.append(str(index))
        elif var == "operation":
            pieces.append(safe_component(job.operation))
        elif var:
            pieces.append(f"${{{var}}}")
    name = "".join(pieces)
    if count > 1 and index > 0 and "${index}" not in template:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem}-{index}.{ext}" if dot else f"{name}-{index}"
    return name


@functools.lru_cache(maxsize=64)
def _template_parts(template: str) -> tuple[tuple[str, str], ...]:
    """``template`` as (literal text, variable name or "") pairs, parsed once."""
    parts = re.split(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", template)
    parts.append("")
    return tuple((parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2))
