"""The benchmark workload: a manifest of N jobs, a served sandbox, a measured run."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import harness

MODEL = "kling-v2.6-pro"


def write_manifest(folder: Path, tasks: int, concurrency: int, rate: float | None) -> Path:
    """``tasks`` text-to-video jobs (one matrix over seeds), with these run settings
    (``rate`` None: the built-in default)."""
    seeds = ", ".join(str(i) for i in range(tasks))
    rate_line = "" if rate is None else f"\n  rate: {rate:g}"
    text = f"""version: 1
defaults: {{model: {MODEL}, duration: 5}}
run:
  concurrency: {concurrency}{rate_line}
  timeout: 10m
  poll: {{initial: 0.2s, max: 2s}}
output: {{dir: renders, name: "${{job}}.mp4"}}
jobs:
  - id: shot
    prompt: Benchmark shot ${{seed}}
    matrix:
      seed: [{seeds}]
"""
    path = folder / "bench.yaml"
    path.write_text(text)
    return path


@contextmanager
def served(settings: dict[str, Any], name: str) -> Iterator[tuple[Path, str]]:
    """A fresh temporary folder and a sandbox served with ``settings``: (folder, URL)."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        folder = Path(tmp)
        with harness.sandbox(settings, folder) as url:
            yield folder, url


def vidbatch_run(
    manifest: Path, url: str, *extra: str, prefix: list[str] | None = None
) -> harness.Measured:
    """``vidbatch run MANIFEST --base-url URL --yes EXTRA...``, measured; it must succeed."""
    argv = [*(prefix or []), *harness.VIDBATCH, "run", str(manifest)]
    argv += ["--base-url", url, "--yes", *extra]
    result = harness.measure(argv, cwd=manifest.parent, env=harness.api_env())
    if result.code != 0:
        raise RuntimeError(f"vidbatch run exited {result.code}:\n{result.stderr[-3000:]}")
    return result
