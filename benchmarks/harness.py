"""Processes for the benchmarks: a served sandbox, and measured child processes.

Every measured program runs as its own child process and is reaped with
``os.wait4``, which gives that one child's CPU time and peak RSS (not the sum
or maximum over every child the harness ever had, as RUSAGE_CHILDREN would).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
VIDBATCH = [PYTHON, "-m", "runner"]


@dataclass(frozen=True)
class Measured:
    """One child process: exit code, wall and CPU seconds, peak RSS in MB, output."""

    code: int
    started_unix: float
    wall: float
    cpu: float
    sys_cpu: float
    peak_mb: float
    stdout: str
    stderr: str


def measure(argv: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None) -> Measured:
    """Run ``argv`` to its end; its own wall time, user+sys CPU and peak RSS."""
    out_path, err_path = cwd / ".bench-stdout", cwd / ".bench-stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started_unix = time.time()
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout = out_path.read_text("utf-8", "replace")
    stderr = err_path.read_text("utf-8", "replace")
    out_path.unlink()
    err_path.unlink()
    return Measured(
        code=proc.returncode,
        started_unix=started_unix,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        sys_cpu=usage.ru_stime,
        peak_mb=usage.ru_maxrss / 1024,
        stdout=stdout,
        stderr=stderr,
    )


@contextmanager
def sandbox(settings: dict[str, Any], folder: Path) -> Iterator[str]:
    """Serve ``vidbatch sandbox`` with ``settings`` in its own process; yields its base URL."""
    faults = folder / "sandbox.json"
    faults.write_text(json.dumps(settings))
    log = open(folder / "sandbox.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*VIDBATCH, "sandbox", "--port", "0", "--faults", str(faults)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the sandbox did not start: {(folder / 'sandbox.log').read_text()}")
        _wait_ready(url)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def record(url: str) -> dict[str, Any]:
    """The sandbox's record: every task's times, and its request counters."""
    with urllib.request.urlopen(f"{url}/_sandbox/record", timeout=60) as answer:
        data: dict[str, Any] = json.loads(answer.read())
    return data


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            record(url)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


PYCACHE = Path(tempfile.gettempdir()) / "vidbatch-bench-pycache"


def api_env() -> dict[str, str]:
    """The environment of a runner talking to a served sandbox (any key will do).

    Byte code is cached (outside the tree, in PYCACHE) even where the shell sets
    PYTHONDONTWRITEBYTECODE: an installed vidbatch starts from compiled files, and
    compiling every module anew on each start would be counted against the runner.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env["LEMONDATA_API_KEY"] = "bench-key"
    env.pop("LEMONDATA_BASE_URL", None)
    # BENCH_PYTHONPATH puts another copy of the package first: a what-if experiment
    # on a patched runner/ without touching the tree.
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [os.environ.get("BENCH_PYTHONPATH"), str(ROOT)])
    )
    return env


def warm_up() -> None:
    """Import every runner module once, so that byte code is cached before measuring."""
    code = (
        "import importlib, pkgutil, runner\n"
        "for m in pkgutil.walk_packages(runner.__path__, 'runner.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
    )
    subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=api_env(), check=True)


def machine() -> dict[str, str]:
    """What the figures ran on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": str(os.cpu_count()),
        "cpu model": model,
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "kernel": os.uname().release,
    }


def git_state() -> str:
    """The commit measured, and any uncommitted changes to the runner in the tree."""
    try:
        head = _git("rev-parse", "--short", "HEAD").strip()
        dirty = _git("status", "--porcelain", "--", "runner", "pyproject.toml").splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = ", ".join(line[3:] for line in dirty)
    return f"{head}" + (f" with uncommitted changes to {changed}" if changed else "")


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.rstrip()


def load() -> str:
    """The 1/5/15-minute load averages, as text."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())
