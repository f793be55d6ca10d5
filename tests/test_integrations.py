"""The files CI users copy: the pre-commit hook and the GitHub Actions example."""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from runner.cli import Context, build_parser, main
from tests.netguard import no_network  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def load(path: str) -> Any:
    return yaml.safe_load((ROOT / path).read_text("utf-8"))


def test_pre_commit_hook() -> None:
    (hook,) = load(".pre-commit-hooks.yaml")
    assert {k: hook[k] for k in ("id", "entry", "language", "types")} == {
        "id": "vidbatch-validate",
        "entry": "vidbatch validate",
        "language": "python",
        "types": ["yaml"],
    }
    files = re.compile(hook["files"])
    matched = [
        p
        for p in (
            "manifests/demo.yaml",
            "video/manifests/spring.yml",
            "manifests/sub/x.yaml",
            "manifests/demo.lock.json",
            "demo.yaml",
            "other/demo.yaml",
            "mymanifests/demo.yaml",
        )
        if files.search(p)
    ]
    assert matched == ["manifests/demo.yaml", "video/manifests/spring.yml", "manifests/sub/x.yaml"]


def test_pre_commit_hook_entry_validates_the_example_manifests(tmp_path: Path) -> None:
    (hook,) = load(".pre-commit-hooks.yaml")
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "manifests").glob("*.yaml"))
    argv = shlex.split(hook["entry"])[1:] + [str(ROOT / f) for f in files]
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, Context(environ={"XDG_CACHE_HOME": str(tmp_path)}, stdout=out, stderr=err))
    assert (code, err.getvalue()) == (0, "")
    assert len(out.getvalue().splitlines()) == len(files) > 0


def workflow() -> dict[Any, Any]:
    data: dict[Any, Any] = load("examples/github-actions/vidbatch.yml")
    return data


def test_workflow_triggers_and_jobs() -> None:
    data = workflow()
    # PyYAML reads the key `on` as YAML 1.1's boolean true.
    assert data[True]["pull_request"] == {"paths": ["manifests/**"]}
    assert data[True]["push"] == {"branches": ["main"], "paths": ["manifests/**"]}
    assert data["concurrency"]["cancel-in-progress"] is False
    jobs = data["jobs"]
    assert jobs["validate"]["if"] == "github.event_name == 'pull_request'"
    assert jobs["generate"]["if"] == "github.event_name != 'pull_request'"
    assert jobs["generate"]["permissions"] == {"contents": "write"}


def test_only_the_generate_step_sees_the_api_key() -> None:
    text = (ROOT / "examples/github-actions/vidbatch.yml").read_text("utf-8")
    assert text.count("secrets.") == 1
    steps = workflow()["jobs"]["generate"]["steps"]
    (keyed,) = [s for s in steps if "LEMONDATA_API_KEY" in s.get("env", {})]
    assert keyed["env"] == {"LEMONDATA_API_KEY": "${{ secrets.LEMONDATA_API_KEY }}"}
    assert keyed["run"] == "vidbatch run $MANIFESTS --yes --junit vidbatch-junit.xml"


def test_workflow_keeps_state_and_uploads_report_with_outputs() -> None:
    steps = {s.get("name", ""): s for s in workflow()["jobs"]["generate"]["steps"]}
    commit = steps["Commit the lockfiles"]
    assert commit["if"] == "always()"
    assert "git add manifests/*.lock.json" in commit["run"]
    assert "[skip ci]" in commit["run"]
    upload = steps["Upload outputs, report and JUnit"]
    # Pinned to the commit of release v7.0.0 (tests/test_examples.py checks every pin).
    assert upload["uses"] == "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"
    assert upload["if"] == "always()"
    assert upload["with"]["path"].split() == [
        "manifests/report.html",
        "manifests/renders/",
        "vidbatch-junit.xml",
    ]
    assert steps["HTML report"]["run"] == "vidbatch report $MANIFESTS -o manifests/report.html"


def test_every_vidbatch_command_in_the_workflow_parses() -> None:
    text = (ROOT / "examples/github-actions/vidbatch.yml").read_text("utf-8")
    commands = re.findall(r"^\s*(?:run: )?vidbatch (\w[^>|\n]*)", text, re.M)
    assert [c.split()[0] for c in commands] == [
        "validate",
        "plan",
        "plan",
        "run",
        "report",
    ]
    parser = build_parser()
    for command in commands:
        argv = shlex.split(command.replace("$MANIFESTS", "manifests/demo.yaml"))
        ns = parser.parse_args(argv)
        assert ns.command == argv[0]
