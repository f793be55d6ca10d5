"""Manifest and Job values built directly, for engine tests that need no YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.manifest.job import Job, Manifest, OutputSettings, RunSettings, SeedMode


def make_job(key: str, index: int = 0, seed_mode: SeedMode = "fixed", **fields: Any) -> Job:
    request: dict[str, Any] = {
        "model": "kling-v2.6-pro",
        "operation": "text-to-video",
        "prompt": f"prompt of {key}",
        "duration": 5,
    }
    if seed_mode != "random":
        request["seed"] = index + 1
    request.update(fields)
    return Job(
        key=key,
        job_id=key.split("[")[0],
        index=index,
        request=request,
        seed_mode=seed_mode,
    )


def make_manifest(
    folder: Path,
    count: int = 3,
    *,
    name: str = "demo",
    run: RunSettings | None = None,
    jobs: tuple[Job, ...] | None = None,
    output_name: str = "${job}.mp4",
) -> Manifest:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text("version: 1\n")
    return Manifest(
        path=path,
        display=str(path),
        run=run or RunSettings(concurrency=4, rate=0, poll_initial=0.01, poll_max=0.05),
        output=OutputSettings(dir=folder / "out", name=output_name),
        jobs=jobs if jobs is not None else tuple(make_job(f"job{i}", i) for i in range(count)),
    )


def validate_lockfile(path: Path) -> dict[str, Any]:
    """The lockfile at ``path``, after checking it against the schema and its format."""
    import json

    from runner.base import schema

    text = path.read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    errors = [e.message for e in schema.validator("lockfile").iter_errors(doc)]
    assert errors == []
    assert text == json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    return doc
