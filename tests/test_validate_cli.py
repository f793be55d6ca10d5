"""Acceptance tests of ``vidbatch validate`` and ``vidbatch schema`` through ``main``.

The corpus in tests/data/bad holds one manifest per mistake, NAME.yaml, beside
NAME.expected: the exact diagnostics, one per line, with the file named as it is
given on the command line (relative to the repository root).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner.cli import Context, main

REPO = Path(__file__).resolve().parent.parent
BAD = REPO / "tests" / "data" / "bad"
CASES = sorted(p.stem for p in BAD.glob("*.yaml"))
SUMMARY = "vidbatch: {count} error(s) in manifest; nothing was submitted"


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


def run(args: list[str], home: Path) -> Outcome:
    """``vidbatch ARGS`` with captured output and a model cache nobody has written."""
    out, err = io.StringIO(), io.StringIO()
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
    code = main(args, Context(environ=env, stdout=out, stderr=err))
    return Outcome(code, out.getvalue(), err.getvalue())


@pytest.fixture
def at_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 45
    assert all((BAD / f"{name}.expected").is_file() for name in CASES)


@pytest.mark.parametrize("name", CASES)
def test_bad_manifest_gives_exactly_its_diagnostics(
    name: str, at_repo: None, tmp_path: Path
) -> None:
    given = f"tests/data/bad/{name}.yaml"
    expected = (BAD / f"{name}.expected").read_text("utf-8").splitlines()
    outcome = run(["validate", given], tmp_path)
    assert outcome.code == 2
    assert outcome.out == ""
    errors = sum(1 for line in expected if ": error: " in line)  # warnings are shown too
    assert outcome.err_lines == [*expected, SUMMARY.format(count=errors)]


def test_a_manifest_over_32_mib_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    prompt = "x" * (33 * 1024 * 1024)
    path.write_text(f"version: 1\njobs:\n  - id: big\n    prompt: {prompt}\n", encoding="utf-8")
    size = path.stat().st_size
    outcome = run(["validate", str(path)], tmp_path)
    assert outcome.code == 2
    assert outcome.err_lines == [
        f"{path}:1:1: error: the manifest is {size:,} bytes; the limit is 33,554,432",
        SUMMARY.format(count=1),
    ]


def test_a_long_prompt_under_the_limit_is_accepted(tmp_path: Path) -> None:
    prompt = "a cat " * 500_000  # 3 MB on one line
    path = write(tmp_path, "long.yaml", f"version: 1\njobs:\n  - id: long\n    prompt: {prompt}\n")
    outcome = run(["validate", str(path)], tmp_path)
    assert (outcome.code, outcome.out, outcome.err) == (0, f"{path}: ok (1 job)\n", "")


def test_a_symlink_leading_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    project = tmp_path / "project"
    (project / "assets").mkdir(parents=True)
    os.symlink(outside / "secret.png", project / "assets" / "link.png")
    os.symlink(outside, project / "elsewhere")
    path = write(
        project,
        "m.yaml",
        "version: 1\njobs:\n"
        "  - id: a\n    prompt: p\n    image_url: assets/link.png\n"
        "  - id: b\n    prompt: p\n    image_url: elsewhere/secret.png\n",
    )
    outcome = run(["validate", str(path)], tmp_path)
    assert outcome.err_lines == [
        f"{path}:5:16: error: jobs[0].image_url: assets/link.png: "
        "the path leads outside the manifest's folder",
        f"{path}:8:16: error: jobs[1].image_url: elsewhere/secret.png: "
        "the path leads outside the manifest's folder",
        SUMMARY.format(count=2),
    ]


def test_a_symlink_inside_the_folder_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    os.symlink(tmp_path / "real" / "a.png", tmp_path / "alias.png")
    path = write(
        tmp_path,
        "m.yaml",
        "version: 1\njobs:\n  - id: a\n    prompt: p\n    image_url: alias.png\n",
    )
    assert run(["validate", str(path)], tmp_path).code == 0


@pytest.mark.parametrize(
    ("field", "suffix", "model", "limit_mb", "kind"),
    [
        ("image_url", ".png", "sora-2", 20, "image"),
        ("audio_url", ".mp3", "some-audio-model", 25, "audio"),
        ("video_url", ".mp4", "topaz-video-upscale", 50, "video"),
    ],
)
def test_a_local_input_over_its_size_limit_is_refused(
    tmp_path: Path, field: str, suffix: str, model: str, limit_mb: int, kind: str
) -> None:
    size = limit_mb * 1024 * 1024 + 1
    with (tmp_path / f"big{suffix}").open("wb") as handle:  # sparse: nothing written
        handle.truncate(size)
    path = write(
        tmp_path,
        "m.yaml",
        "version: 1\nallow_unknown_models: true\njobs:\n"
        f"  - id: big\n    model: {model}\n    prompt: p\n    {field}: big{suffix}\n",
    )
    outcome = run(["validate", str(path)], tmp_path)
    column = len(f"    {field}: ") + 1
    assert outcome.err_lines == [
        f"{path}:7:{column}: error: jobs[0].{field}: big{suffix}: "
        f"{size:,} bytes; the limit for {kind} files is {limit_mb} MB",
        SUMMARY.format(count=1),
    ]


def test_a_local_input_at_its_size_limit_is_accepted(tmp_path: Path) -> None:
    with (tmp_path / "edge.png").open("wb") as handle:
        handle.truncate(20 * 1024 * 1024)
    path = write(
        tmp_path, "m.yaml", "version: 1\njobs:\n  - id: a\n    prompt: p\n    image: edge.png\n"
    )
    assert run(["validate", str(path)], tmp_path).code == 0


def test_a_prompt_file_over_its_limit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("x" * (1024 * 1024 + 1), encoding="utf-8")
    path = write(tmp_path, "m.yaml", "version: 1\njobs:\n  - id: a\n    prompt_file: long.txt\n")
    outcome = run(["validate", str(path)], tmp_path)
    assert outcome.err_lines == [
        f"{path}:4:18: error: jobs[0].prompt_file: long.txt: larger than the 1,048,576-byte limit",
        SUMMARY.format(count=1),
    ]


def test_a_prompt_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9\n")
    path = write(tmp_path, "m.yaml", "version: 1\njobs:\n  - id: a\n    prompt_file: latin.txt\n")
    outcome = run(["validate", str(path)], tmp_path)
    assert outcome.err_lines[0] == (
        f"{path}:4:18: error: jobs[0].prompt_file: latin.txt: not UTF-8 text"
    )


def test_good_manifests_print_one_line_each(tmp_path: Path) -> None:
    one = write(tmp_path, "one.yaml", "version: 1\njobs:\n  - id: a\n    prompt: p\n")
    grid = write(
        tmp_path,
        "grid.yaml",
        "version: 1\njobs:\n  - id: g\n    prompt: p\n    matrix:\n      seed: [1, 2, 3]\n",
    )
    outcome = run(["validate", str(one), str(grid)], tmp_path)
    assert outcome.code == 0
    assert outcome.out == f"{one}: ok (1 job)\n{grid}: ok (3 jobs)\n"
    assert outcome.err == ""


def test_problems_of_several_manifests_are_all_reported(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", "version: 1\njobs:\n  - id: a\n    prompt: p\n")
    bad = write(tmp_path, "bad.yaml", "version: 2\njobs:\n  - id: a\n    prompt: p\n")
    missing = tmp_path / "missing.yaml"
    outcome = run(["validate", str(bad), str(good), str(missing)], tmp_path)
    assert outcome.code == 2
    assert outcome.out == ""
    assert outcome.err_lines == [
        f"{bad}:1:10: error: version: 2 is not allowed; expected 1",
        f"{missing}:1:1: error: no such file",
        SUMMARY.format(count=2),
    ]


def test_a_folder_is_not_a_manifest(tmp_path: Path) -> None:
    outcome = run(["validate", str(tmp_path)], tmp_path)
    assert outcome.err_lines == [
        f"{tmp_path}:1:1: error: is a directory, not a manifest",
        SUMMARY.format(count=1),
    ]


def test_unknown_models_pass_with_the_flag_or_the_manifest_setting(tmp_path: Path) -> None:
    body = "jobs:\n  - id: a\n    model: brand-new-model\n    prompt: p\n"
    plain = write(tmp_path, "plain.yaml", "version: 1\n" + body)
    allowed = write(tmp_path, "allowed.yaml", "version: 1\nallow_unknown_models: true\n" + body)
    assert run(["validate", str(plain)], tmp_path).code == 2
    assert run(["validate", "--allow-unknown-models", str(plain)], tmp_path).code == 0
    assert run(["validate", str(allowed)], tmp_path).code == 0


def test_a_refreshed_model_cache_is_used(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "vidbatch" / "models.json"
    cache.parent.mkdir(parents=True)
    models = {"models": {"fresh-model": {"operations": ["text-to-video"]}}}
    cache.write_text(json.dumps(models), encoding="utf-8")
    path = write(
        tmp_path, "m.yaml", "version: 1\njobs:\n  - id: a\n    model: fresh-model\n    prompt: p\n"
    )
    assert run(["validate", str(path)], tmp_path).code == 0


def test_validate_needs_a_manifest(tmp_path: Path) -> None:
    outcome = run(["validate"], tmp_path)
    assert outcome.code == 2
    assert "the following arguments are required: MANIFEST" in outcome.err


@pytest.mark.parametrize("command", ["validate", "schema"])
def test_help(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run([command, "--help"], tmp_path)
    assert outcome.code == 0
    assert outcome.out.startswith(f"usage: vidbatch {command}")
    assert capsys.readouterr().out == ""  # the Context's stream, not sys.stdout


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("manifest", "vidbatch manifest (version 1)"),
        ("request", "Video generation request (POST /v1/videos/generations), LemonData / TokenLab"),
    ],
)
def test_schema_prints_the_shipped_schema(name: str, title: str, tmp_path: Path) -> None:
    outcome = run(["schema", name], tmp_path)
    assert outcome.code == 0
    assert json.loads(outcome.out)["title"] == title


def test_schema_prints_the_lockfile_schema(tmp_path: Path) -> None:
    outcome = run(["schema", "lockfile"], tmp_path)
    assert outcome.code == 0
    assert json.loads(outcome.out)["$schema"].endswith("2020-12/schema")


def test_schema_refuses_an_unknown_name(tmp_path: Path) -> None:
    outcome = run(["schema", "jobs"], tmp_path)
    assert outcome.code == 2
    assert "invalid choice: 'jobs'" in outcome.err
