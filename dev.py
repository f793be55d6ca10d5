#!/usr/bin/env python3
"""Developer entry point: `python3 dev.py demo` and `python3 dev.py test`.

Each command creates `.venv` beside this file when it is missing, installs the
project into it (editable, with the test and sandbox extras), and then runs.
Only the Python standard library is used here, so it works on a fresh machine.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".vidbatch-installed"


def _ensure_env() -> None:
    if not PY.exists():
        print(f"dev.py: creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    print("dev.py: installing vidbatch[test] into .venv", flush=True)
    subprocess.run(
        [str(PY), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[test]"], check=True
    )
    STAMP.write_text(digest)


def _run(*args: str) -> int:
    return subprocess.run([str(PY), *args], cwd=ROOT).returncode


def demo() -> int:
    manifest = "manifests/demo.yaml"
    code = _run("-m", "runner", "run", manifest, "--sandbox", "--yes")
    if code == 0:
        print(
            "\nDemo done: videos in manifests/renders/demo/, lock in manifests/demo.lock.json."
            "\nTry: .venv/bin/vidbatch status manifests/demo.yaml",
            flush=True,
        )
    return code


def test() -> int:
    steps = [
        ("-m", "ruff", "check", "runner", "tests", "benchmarks", "dev.py"),
        ("-m", "mypy"),
        ("-m", "pytest", *sys.argv[2:]),
    ]
    for step in steps:
        print("dev.py: " + " ".join(step), flush=True)
        code = _run(*step)
        if code != 0:
            return code
    return 0


def main() -> int:
    commands = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print("usage: python3 dev.py demo | test [pytest args...]", file=sys.stderr)
        return 2
    _ensure_env()
    return commands[sys.argv[1]]()


if __name__ == "__main__":
    sys.exit(main())
