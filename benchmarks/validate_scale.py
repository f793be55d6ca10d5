"""Time `vidbatch validate` on a manifest that expands to N jobs (default 100,000).

    python benchmarks/validate_scale.py [--jobs N] [--listed]

By default 100 jobs each carry a matrix (seed x aspect_ratio x a prompt variable),
which is how large sets are written in practice; --listed writes every job out
instead. Prints wall time and peak RSS of the validate process, against issue 11's
floors (scenario D of benchmarks/run.py: 2 s for the matrices; D': 4 s and 400 MB
for the jobs listed one by one).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_manifest(folder: Path, jobs: int, listed: bool) -> Path:
    lines = [
        "version: 1",
        "defaults: {model: kling-v2.6-pro, duration: 5}",
        "vars: {style: cinematic lighting}",
        "jobs:",
    ]
    if listed:
        for i in range(jobs):
            lines.append(f"  - {{id: job-{i}, prompt: 'Shot {i}, ${{style}}', seed: {i}}}")
    else:
        per_job = jobs // 100
        seeds = per_job // 4
        for i in range(100):
            lines += [
                f"  - id: set-{i}",
                f"    prompt: Scene {i} in ${{mood}} light, ${{style}}",
                "    matrix:",
                f"      seed: [{', '.join(str(s) for s in range(seeds))}]",
                "      aspect_ratio: ['16:9', '9:16', '1:1', '4:3']",
                "      mood: [warm]",
            ]
    path = folder / "scale.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def measure(args: list[str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak RSS in MB, and stdout of one vidbatch process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "runner", *args], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"vidbatch {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return elapsed, cpu, after.ru_maxrss / 1024, proc.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--listed", action="store_true", help="write every job out")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_manifest(Path(tmp), ns.jobs, ns.listed)
        seconds, cpu, peak_mb, out = measure(["validate", str(manifest)])
    shape = "listed" if ns.listed else "matrix"
    floor_s, floor_mb = (4.0, 400.0) if ns.listed else (2.0, 500.0)
    print(f"validate, {shape}, {out.split(': ', 1)[-1]}")
    print(f"  wall  {seconds:6.2f} s   ({seconds / floor_s:.2f} x the {floor_s:g} s floor)")
    print(f"  cpu   {cpu:6.2f} s   ({cpu / floor_s:.2f} x the {floor_s:g} s floor)")
    print(f"  peak  {peak_mb:6.0f} MB  ({peak_mb / floor_mb:.2f} x the {floor_mb:g} MB floor)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
