"""Per-model checks from the catalog: located warnings, --strict and ``strict: true``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from runner.catalog import models
from runner.catalog.models import Limits, ModelInfo, ModelMatrix
from runner.cli import Context, main
from runner.manifest.modelcheck import Finding, ModelCheck

SEEDANCE = ModelInfo(
    operations=("text-to-video", "image-to-video"),
    limits=Limits(("5", "10"), ("480p", "720p"), ("16:9", "adaptive")),
    by_operation={"image-to-video": Limits(durations=("5",))},
)
CATALOG = ModelMatrix(
    {
        "seed-x": SEEDANCE,
        "old-x": ModelInfo(("text-to-video",), stage="deprecated", replacement="seed-x"),
        "gone-x": ModelInfo(("text-to-video",), stage="retired"),
        "new-x": ModelInfo(None),
    },
    "test",
)


def findings(model: str, operation: str, **values: object) -> list[Finding]:
    return list(ModelCheck(CATALOG, False).findings(model, operation, values))


def test_values_the_model_takes_pass() -> None:
    assert findings("seed-x", "text-to-video", duration=10, resolution="720P") == []
    assert findings("seed-x", "text-to-video", aspect_ratio="adaptive", duration=-1) == []
    assert findings("seed-x", "image-to-video", duration=5.0) == []


def test_values_outside_what_the_catalog_lists_are_warnings() -> None:
    assert findings("seed-x", "text-to-video", duration=8, resolution="4k") == [
        Finding(
            "duration", "model seed-x takes durations 5, 10 for text-to-video; 8 is not among them"
        ),
        Finding(
            "resolution",
            "model seed-x takes resolutions 480p, 720p for text-to-video; '4k' is not among them",
        ),
    ]
    # the operation's own constraints come first
    assert findings("seed-x", "image-to-video", duration=10) == [
        Finding(
            "duration", "model seed-x takes durations 5 for image-to-video; 10 is not among them"
        )
    ]


def test_more_inputs_than_the_model_takes_is_a_warning() -> None:
    check = ModelCheck(models.builtin(), False)
    refs = {"reference_images": [f"https://e.x/{i}.png" for i in range(8)]}
    assert check.findings("grok-imagine-video", "reference-to-video", refs) == (
        Finding(
            "reference_images", "model grok-imagine-video takes at most 7 reference_images; 8 given"
        ),
    )
    assert check.findings("seedance-2.0", "reference-to-video", refs) == ()
    videos = {"reference_images": ["a"], "video_urls": ["a", "b", "c", "d"]}
    [finding] = check.findings("seedance-2.0-fast", "reference-to-video", videos)
    assert finding.message == "model seedance-2.0-fast takes at most 3 video_urls; 4 given"


def test_operations_lifecycle_and_unknown_models() -> None:
    refresh = "`vidbatch models --refresh` reads the live catalog"
    assert findings("seed-x", "motion-control") == [
        Finding(
            "model",
            "model seed-x does not list motion-control "
            f"(it lists: text-to-video, image-to-video); {refresh}",
        )
    ]
    assert findings("new-x", "text-to-video") == [
        Finding("model", f"no source documents the operations of model new-x; {refresh}")
    ]
    assert findings("old-x", "text-to-video") == [
        Finding("model", "model old-x is deprecated; use seed-x")
    ]
    assert findings("gone-x", "text-to-video") == [Finding("model", "model gone-x is retired")]
    [unknown] = findings("seed-y", "text-to-video")
    assert (unknown.field, unknown.warning) == ("model", False)
    assert unknown.message.startswith("unknown model seed-y; did you mean seed-x?")
    assert ModelCheck(CATALOG, True).findings("seed-y", "text-to-video", {}) == ()


MANIFEST = """\
version: 1
jobs:
  - id: long
    model: seed-x
    prompt: A product reveal
    duration: 8
  - id: grid
    model: seed-x
    prompt: A product reveal
    matrix:
      resolution: [720p, 1080p]
  - id: old
    model: old-x
    prompt: A cat
"""
WARNINGS = [
    "m.yaml:6:15: warning: jobs[0] (long): model seed-x takes durations 5, 10 for text-to-video;"
    " 8 is not among them",
    "m.yaml:11:26: warning: jobs[1] (grid): model seed-x takes resolutions 480p, 720p for "
    "text-to-video; '1080p' is not among them",
    "m.yaml:13:12: warning: jobs[2] (old): model old-x is deprecated; use seed-x",
]


def validate(tmp_path: Path, text: str, *flags: str) -> tuple[int, str, str]:
    cache = models.cache_path({"XDG_CACHE_HOME": str(tmp_path / "cache")})
    models.write_cache(cache, CATALOG)
    (tmp_path / "m.yaml").write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    context = Context(environ=env, stdout=out, stderr=err)
    code = main(["validate", *flags, "m.yaml"], context)
    return code, out.getvalue(), err.getvalue()


def test_warnings_are_located_and_do_not_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = validate(tmp_path, MANIFEST)
    assert (code, out) == (0, "m.yaml: ok (4 jobs)\n")
    assert err.splitlines() == WARNINGS


def test_strict_makes_them_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    errors = [line.replace(": warning: ", ": error: ") for line in WARNINGS]
    summary = "vidbatch: 3 error(s) in manifest; nothing was submitted"
    code, out, err = validate(tmp_path, MANIFEST, "--strict")
    assert (code, out, err.splitlines()) == (2, "", [*errors, summary])
    in_file = MANIFEST.replace("version: 1\n", "version: 1\nstrict: true\n")
    code, out, err = validate(tmp_path, in_file)
    shifted = [
        line.replace(f"m.yaml:{n}:", f"m.yaml:{n + 1}:")
        for line, n in zip(errors, (6, 11, 13), strict=True)
    ]
    assert (code, out, err.splitlines()) == (2, "", [*shifted, summary])


def test_the_default_model_is_the_newest_documented_and_written_out(tmp_path: Path) -> None:
    from runner.manifest import loader

    (tmp_path / "d.yaml").write_text("version: 1\njobs:\n  - {id: a, prompt: p}\n", "utf-8")
    job = loader.load(tmp_path / "d.yaml").jobs[0]
    assert job.request["model"] == "veo3.1" == models.builtin().default_model
    assert json.loads(json.dumps(job.body(None)))["model"] == "veo3.1"


def test_combinations_judged_alike_only_when_they_agree_on_what_is_judged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The checks are skipped for a combination like one found clean: the seed
    # varies and is not judged, so the clean 720p/default ones are judged once, but
    # each resolution and service tier is still judged, where it is written.
    text = (
        "version: 1\njobs:\n  - id: grid\n    model: seed-x\n    prompt: A reveal\n"
        "    priority: 1\n    matrix:\n      seed: [1, 2, 3]\n"
        "      resolution: [720p, 1080p]\n      service_tier: [default, flex]\n"
    )
    monkeypatch.chdir(tmp_path)
    code, _, err = validate(tmp_path, text)
    assert code == 2
    assert err.splitlines()[:2] == [
        "m.yaml:3:5: error: jobs[0] (grid): priority cannot be combined with service_tier: flex",
        "m.yaml:9:26: warning: jobs[0] (grid): model seed-x takes resolutions 480p, 720p for "
        "text-to-video; '1080p' is not among them",
    ]
    code, out, err = validate(tmp_path, text.replace("    priority: 1\n", ""))
    assert (code, out) == (0, "m.yaml: ok (12 jobs)\n")
    assert err.splitlines() == [WARNINGS[1].replace("11:26", "8:26").replace("[1]", "[0]")]


def test_jobs_without_a_matrix_judged_alike_only_when_they_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Jobs of the same keys are judged once for each set of the values the checks
    # read: a job that differs in one of them (a duration, an empty prompt) is
    # judged, and located, on its own.
    jobs = [("a", "A reveal", 10), ("b", "A reveal", 8), ("c", "Another", 10), ("d", "", 10)]
    text = "version: 1\njobs:\n" + "".join(
        f"  - {{id: {i}, model: seed-x, prompt: '{p}', duration: {d}}}\n" for i, p, d in jobs
    )
    monkeypatch.chdir(tmp_path)
    code, _, err = validate(tmp_path, text)
    assert code == 2
    assert err.splitlines()[:2] == [
        "m.yaml:4:58: warning: jobs[1] (b): model seed-x takes durations 5, 10 for "
        "text-to-video; 8 is not among them",
        "m.yaml:6:5: error: jobs[3] (d): prompt is required for text-to-video (or prompt_file)",
    ]
