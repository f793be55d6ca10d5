"""The GitHub Actions examples: linted (actionlint, zizmor offline), and their vidbatch
commands run, job by job and step by step, against a sandbox on loopback."""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.base.errors import EXIT_IN_FLIGHT
from runner.sandbox import Sandbox, SandboxConfig, background
from tests.netguard import no_network  # noqa: F401
from tests.test_run_cli import KEY, Cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples" / "github-actions").glob("*.yml"))
BIN = Path(sys.executable).parent
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
SHELL_END = {">", ">>", "2>", "||", "&&", "|", ";", "2>&1"}
EXPRESSIONS = {
    "${{ secrets.LEMONDATA_API_KEY }}": KEY,
    "${{ github.token }}": "unused",
}


def tool(name: str) -> str:
    """A linter installed with the test extra (beside this interpreter)."""
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed: `python3 dev.py test` installs the test extra"
    return found


def zizmor_findings(path: Path) -> list[dict[str, Any]]:
    """zizmor's findings above informational, offline (no GitHub API, no token)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    done = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert done.returncode in (0, 10, 11, 12, 13, 14), done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return [f for f in findings if f["determinations"]["severity"] != "Informational"]


def actionlint(path: Path) -> list[str]:
    """actionlint's findings, with ShellCheck's on each ``run:`` script (warnings and
    worse: ``$MANIFESTS`` is unquoted on purpose, to be globbed, which is SC2086, info)."""
    tool("shellcheck")  # else actionlint would skip the scripts without a word
    env = dict(os.environ, SHELLCHECK_OPTS="--severity=warning")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [tool("actionlint"), "-no-color", "-oneline", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout.splitlines()


def test_there_are_three_examples() -> None:
    names = [p.name for p in EXAMPLES]
    assert names == ["vidbatch-detach.yml", "vidbatch-shards.yml", "vidbatch.yml"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_passes_actionlint_and_zizmor(path: Path) -> None:
    assert actionlint(path) == []
    assert [f["ident"] for f in zizmor_findings(path)] == []
    for job in yaml.safe_load(path.read_text())["jobs"].values():
        for step in job["steps"]:
            assert "uses" not in step or PINNED.match(step["uses"]), step["uses"]


def test_the_linters_catch_what_the_old_example_had(tmp_path: Path) -> None:
    """Unpinned actions and checkout credentials left for an artifact: found."""
    text = (ROOT / "examples/github-actions/vidbatch.yml").read_text()
    text = re.sub(r"actions/checkout@[0-9a-f]{40}", "actions/checkout@v4", text)
    text = re.sub(r"\n *with:\n *persist-credentials: false[^\n]*", "", text)
    bad = tmp_path / "bad.yml"
    bad.write_text(text)
    found = sorted({f["ident"] for f in zizmor_findings(bad)})
    assert found == ["artipacked", "unpinned-uses"]
    bad.write_text(text.replace("runs-on: ubuntu-latest", "runs-on: [ubuntu-latest", 1))
    assert actionlint(bad) != []
    original = (ROOT / "examples/github-actions/vidbatch.yml").read_text()
    shell = original.replace("git add manifests/*.lock.json", "git add $(ls manifests/*.lock.json)")
    assert shell != original
    bad.write_text(shell)
    (finding,) = actionlint(bad)
    assert "SC2046" in finding


# --- the examples' vidbatch commands, against a sandbox -------------------------------


def vidbatch_lines(script: str) -> Iterator[list[str]]:
    """Each ``vidbatch ...`` command of a ``run:`` script, as words (up to any redirection)."""
    for line in script.splitlines():
        words = shlex.split(line.strip(), comments=True)
        if not words or words[0] != "vidbatch":
            continue
        cut = next((i for i, w in enumerate(words) if w in SHELL_END), len(words))
        yield words[1:cut]


def expand(word: str, env: dict[str, str], cwd: Path) -> list[str]:
    value = re.sub(r"\$\{?(\w+)\}?", lambda m: env[m[1]], word)
    if "*" not in value:
        return [value]
    return sorted(os.path.relpath(p, cwd) for p in glob.glob(str(cwd / value))) or [value]


def step_env(values: dict[str, Any] | None, matrix: dict[str, Any]) -> dict[str, str]:
    env = {}
    for name, value in (values or {}).items():
        text = str(value)
        for expression, replacement in {**EXPRESSIONS, **matrix}.items():
            text = text.replace(expression, str(replacement))
        assert "${{" not in text, f"{name}: {text}: not known to this test"
        env[name] = text
    return env


def commands(path: Path) -> Iterator[tuple[str, dict[str, str], list[str]]]:
    """Every vidbatch command of a workflow in the order a run makes them: jobs in
    order, each matrix entry in turn, with the environment each step would have."""
    workflow = yaml.safe_load(path.read_text())
    top = step_env(workflow.get("env"), {})
    for name, job in workflow["jobs"].items():
        entries = [
            {"${{ matrix." + key + " }}": value for key, value in combo.items()}
            for combo in _matrix(job)
        ]
        for matrix in entries:
            for step in job["steps"]:
                env = {
                    **top,
                    **step_env(job.get("env"), matrix),
                    **step_env(step.get("env"), matrix),
                }
                for words in vidbatch_lines(step.get("run", "")):
                    yield name, env, words


def _matrix(job: dict[str, Any]) -> list[dict[str, Any]]:
    axes = job.get("strategy", {}).get("matrix", {})
    if not axes:
        return [{}]
    ((axis, values),) = axes.items()
    return [{axis: value} for value in values]


def allowed(words: list[str]) -> set[int]:
    """The exit codes a workflow accepts from a command."""
    if words[0] == "plan" and "--check" in words:
        return {0, 1}
    if words[0] == "run" and "--detach" in words:
        return {0, EXIT_IN_FLIGHT}
    return {0}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Cli]]:
    """A checkout with the demo in manifests/, and a CLI pointed at a quick sandbox."""
    (tmp_path / "manifests").mkdir()
    demo = (ROOT / "manifests" / "demo.yaml").read_text()
    quick = demo.replace("poll: {initial: 1s, max: 5s}", "poll: {initial: 50ms, max: 200ms}")
    assert quick != demo
    (tmp_path / "manifests" / "demo.yaml").write_text(quick)
    shutil.copytree(ROOT / "manifests" / "assets", tmp_path / "manifests" / "assets")
    monkeypatch.chdir(tmp_path)
    sandbox = Sandbox(SandboxConfig(task_seconds=(0.1, 0.3)))
    with background(sandbox) as url:
        cli = Cli({"HOME": str(tmp_path / "home")})  # --fetch-prices caches under it
        cli.environ.update(LEMONDATA_API_KEY=KEY, LEMONDATA_BASE_URL=url)
        yield tmp_path, cli


def run_example(name: str, repo: tuple[Path, Cli]) -> list[tuple[list[str], int]]:
    folder, cli = repo
    ran = []
    for _job, env, words in commands(ROOT / "examples" / "github-actions" / name):
        argv = [arg for word in words for arg in expand(word, env, folder)]
        if argv[0] == "run" and "--detach" in argv:
            for _ in range(40):  # the schedule: pass after pass until done
                code = cli(*argv)
                if code != EXIT_IN_FLIGHT:
                    break
                time.sleep(0.3)
        else:
            code = cli(*argv)
        assert code in allowed(argv), (argv, code, cli.err)
        assert "Traceback" not in cli.err
        ran.append((argv, code))
    return ran


@pytest.mark.slow
def test_the_main_example_s_commands(repo: tuple[Path, Cli]) -> None:
    ran = run_example("vidbatch.yml", repo)
    assert [argv[0] for argv, _ in ran] == ["validate", "plan", "plan", "run", "report"]
    assert (repo[0] / "manifests" / "report.html").is_file()
    assert repo[1]("verify", "manifests/demo.yaml") == 0


@pytest.mark.slow
def test_the_detach_example_s_commands(repo: tuple[Path, Cli]) -> None:
    ran = run_example("vidbatch-detach.yml", repo)
    assert [(argv[0], code) for argv, code in ran] == [("run", 0), ("status", 0)]
    assert repo[1]("verify", "manifests/demo.yaml") == 0


@pytest.mark.slow
def test_the_shards_example_s_commands(repo: tuple[Path, Cli]) -> None:
    ran = run_example("vidbatch-shards.yml", repo)
    kinds = [argv[0] for argv, _ in ran]
    assert kinds == ["run"] * 4 + ["lock", "verify", "report"]
    merged = json.loads((repo[0] / "manifests" / "demo.lock.json").read_text())
    assert len(merged["jobs"]) == 7
    assert {entry["status"] for entry in merged["jobs"].values()} == {"completed"}
