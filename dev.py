#!/usr/bin/env python3
"""Developer entry point: `python3 dev.py demo`, `python3 dev.py test`, `python3 dev.py lock`.

`demo` and `test` create `.venv` beside this file when it is missing and install
into it exactly what `dev.lock` pins (versions and hashes of every package the
tests, the demo and the build use), then the project itself, editable, without
resolving anything. `lock` refreshes `dev.lock` from pyproject.toml's
requirements (the newest releases that satisfy them, for every supported Python
and platform), with uv. Only the standard library is used here, so this file
works on a fresh machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".vidbatch-installed"
LOCK = ROOT / "dev.lock"
EXTRAS = ("test", "bench")  # the test extra pulls in the sandbox extra
UV = "uv>=0.9"
EDITABLE_BUILD = ("editables",)  # what hatchling asks for to build an editable install
LOCK_PYTHON = "3.10"  # the oldest Python pyproject.toml supports


def _pyproject() -> dict[str, object]:
    try:
        import tomllib
    except ImportError:  # Python 3.10: tomli is in the lock, so in the venv
        import tomli as tomllib  # type: ignore[no-redef]
    with (ROOT / "pyproject.toml").open("rb") as file:
        data: dict[str, object] = tomllib.load(file)
    return data


def _requirements_digest(project: dict[str, object]) -> str:
    """What the lock was made from: the requirements, not the rest of pyproject.toml."""
    meta = project["project"]
    assert isinstance(meta, dict)
    wanted = {
        "build": project["build-system"],
        "python": meta.get("requires-python"),
        "dependencies": meta.get("dependencies"),
        "extras": meta.get("optional-dependencies"),
    }
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()


def _lock_digest() -> str | None:
    for line in LOCK.read_text("utf-8").splitlines():
        if line.startswith("# requirements sha256: "):
            return line.split(": ", 1)[1].strip()
    return None


def _check_lock() -> None:
    if not LOCK.exists():
        sys.exit("dev.py: dev.lock is missing; make it with `python3 dev.py lock`")
    try:
        current = _requirements_digest(_pyproject())
    except ImportError:
        return  # Python 3.10 before the venv exists: nothing to compare with yet
    if _lock_digest() != current:
        sys.exit(
            "dev.py: pyproject.toml's requirements changed since dev.lock was made; "
            "refresh it with `python3 dev.py lock` and commit both"
        )


def _pip(*args: str) -> None:
    subprocess.run([str(PY), "-m", "pip", "--disable-pip-version-check", *args], check=True)


def _ensure_env() -> None:
    _check_lock()
    if not PY.exists():
        print(f"dev.py: creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    digest = hashlib.sha256(LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    print("dev.py: installing dev.lock into .venv", flush=True)
    # Hash-checked, and nothing outside the lock: pip refuses a package that is unpinned.
    _pip("install", "--quiet", "--require-hashes", "--only-binary", ":all:", "-r", str(LOCK))
    # The project itself, editable, built with the locked hatchling (no isolated
    # build environment, which would fetch an unpinned one).
    extras = ",".join(EXTRAS)
    _pip("install", "--quiet", "--no-deps", "--no-build-isolation", "-e", f"{ROOT}[{extras}]")
    _pip("check")
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


def lock() -> int:
    """Resolve pyproject.toml's requirements anew into dev.lock (needs the package index)."""
    if not PY.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    _pip("install", "--quiet", UV)
    project = _pyproject()
    build = project["build-system"]
    assert isinstance(build, dict)
    with tempfile.TemporaryDirectory() as tmp:
        build_in = Path(tmp, "build-requirements.in")
        build_in.write_text("\n".join([*build["requires"], *EDITABLE_BUILD]) + "\n")
        command = [str(PY), "-m", "uv", "pip", "compile", "--quiet", "--universal"]
        command += ["--generate-hashes", "--python-version", LOCK_PYTHON, "--no-header"]
        command += [arg for extra in EXTRAS for arg in ("--extra", extra)]
        command += ["pyproject.toml", str(build_in), "-o", str(Path(tmp, "lock"))]
        subprocess.run(command, cwd=ROOT, check=True)
        body = Path(tmp, "lock").read_text("utf-8").replace(str(build_in), "build-system.requires")
    header = (
        "# The development environment, exact: made by `python3 dev.py lock`; do not edit.\n"
        f"# requirements sha256: {_requirements_digest(project)}\n"
    )
    LOCK.write_text(header + body, "utf-8")
    print(f"dev.py: wrote {LOCK.name}; `python3 dev.py test` installs it", flush=True)
    return 0


def main() -> int:
    commands = {"demo": demo, "test": test, "lock": lock}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print("usage: python3 dev.py demo | test [pytest args...] | lock", file=sys.stderr)
        return 2
    if sys.argv[1] != "lock":
        _ensure_env()
    return commands[sys.argv[1]]()


if __name__ == "__main__":
    sys.exit(main())
