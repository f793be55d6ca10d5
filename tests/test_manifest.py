"""runner.manifest.loader: load() from YAML to a Manifest, settings, where problems are."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from runner.base.diagnostics import Diagnostic
from runner.base.errors import ManifestError
from runner.catalog.models import matrix_of
from runner.manifest import loader, yamlfile
from runner.manifest.job import OutputSettings, RunSettings
from runner.manifest.loader import parse_duration
from runner.manifest.problems import Report, format_path

JOBS = "jobs:\n  - id: a\n    prompt: A cat\n"
MINIMAL = "version: 1\n" + JOBS


def write(folder: Path, text: str, name: str = "m.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def diagnostics(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        loader.load(path, display="m.yaml", **kwargs)  # type: ignore[arg-type]
    return [str(d) for d in caught.value.diagnostics]


def test_a_minimal_manifest_and_its_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    loaded = loader.load(path)
    assert loaded.path == path
    assert loaded.display == str(path)
    assert loaded.run == RunSettings()
    assert loaded.output == OutputSettings(dir=tmp_path / "renders" / "m", name="${job}.mp4")
    assert loaded.vars == {}
    assert loaded.allow_unknown_models is False
    assert [job.key for job in loaded.jobs] == ["a"]


def test_settings_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\nallow_unknown_models: true\nvars: {style: noir, n: 3}\n"
        "run:\n  concurrency: 8\n  rate: 0.5\n  timeout: 1h30m\n"
        "  poll: {initial: 500ms, max: 2m}\n  retry_failed: 2\n"
        "output:\n  dir: out/videos\n  name: ${id}-${seed}.mp4\n" + JOBS,
    )
    loaded = loader.load(path, display="shown.yaml")
    assert loaded.display == "shown.yaml"
    assert loaded.run == RunSettings(
        concurrency=8, rate=0.5, timeout=5400.0, poll_initial=0.5, poll_max=120.0, retry_failed=2
    )
    assert loaded.output == OutputSettings(
        dir=tmp_path / "out" / "videos", name="${id}-${seed}.mp4"
    )
    assert loaded.vars == {"style": "noir", "n": 3}
    assert loaded.allow_unknown_models is True


def test_numbers_are_seconds(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nrun: {timeout: 90, poll: {initial: 0.25, max: 2}}\n" + JOBS)
    run = loader.load(path).run
    assert (run.timeout, run.poll_initial, run.poll_max) == (90.0, 0.25, 2.0)


def test_an_absolute_output_dir_stays_absolute(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    path = write(tmp_path, f"version: 1\noutput: {{dir: '{target}'}}\n" + JOBS)
    assert loader.load(path).output.dir == target


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("5s", 5.0),
        ("20m", 1200.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1h 30m 15s", 5415.0),
        ("1.5s", 1.5),
        (" 2 m ", 120.0),
        (7, 7.0),
        (2.5, 2.5),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_format_path() -> None:
    assert format_path(()) == ""
    assert format_path(("jobs", 1, "fps")) == "jobs[1].fps"
    assert format_path(("jobs", 0, "matrix", "seed", 2)) == "jobs[0].matrix.seed[2]"
    assert format_path(("vars", "k" * 100)) == "vars." + "k" * 57 + "..."


def test_report_locates_values_keys_and_owners() -> None:
    text = "version: 1\njobs:\n  - id: a\n    fps: 240\n"
    root, _ = yamlfile.parse(text, "m.yaml")
    report = Report("m.yaml", root)
    report.add(("jobs", 0, "fps"), "too fast")
    report.add(("jobs", 0, "fps"), "unknown", at_key=True)
    report.add(("jobs", 0, "nothing", "deeper"), "owner")
    report.add(("jobs", 0), "labelled", label="jobs[0] (a)")
    report.add((), "top")
    report.add(("jobs", 0, "fps"), "too fast")  # the same problem twice is one
    assert [str(d) for d in report.sorted()] == [
        "m.yaml:1:1: error: top",
        "m.yaml:3:5: error: jobs[0] (a): labelled",
        "m.yaml:3:5: error: jobs[0].nothing.deeper: owner",
        "m.yaml:4:5: error: jobs[0].fps: unknown",
        "m.yaml:4:10: error: jobs[0].fps: too fast",
    ]


def test_report_keeps_every_diagnostic_on_one_line() -> None:
    report = Report("m.yaml", None)
    report.add((), "a\nb\r\tc\u2028d\x85e")
    assert report.sorted() == [Diagnostic("m.yaml", 1, 1, "a\\nb\\r\\tc\\u2028d\\x85e")]


def test_problems_come_sorted_by_position(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\njobs:\n  - id: b\n    prompt: p\n    fps: 0\n"
        "  - id: a\n    prompt: p\n    cfg_scale: 99\n    fps: 999\n",
    )
    assert diagnostics(path) == [
        "m.yaml:5:10: error: jobs[0].fps: 0 is less than the minimum of 1",
        "m.yaml:8:16: error: jobs[1].cfg_scale: 99 is greater than the maximum of 20",
        "m.yaml:9:10: error: jobs[1].fps: 999 is greater than the maximum of 120",
    ]


def test_a_byte_order_mark_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert len(loader.load(path).jobs) == 1


def test_windows_line_endings_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "crlf.yaml"
    path.write_bytes(MINIMAL.replace("\n", "\r\n").encode() + b"    fps: 999\r\n")
    assert diagnostics(path) == [
        "m.yaml:5:10: error: jobs[0].fps: 999 is greater than the maximum of 120"
    ]


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"version: 1\n\njobs:\n  - id: a\n    prompt: caf\xe9\n")
    assert diagnostics(path) == ["m.yaml:5:1: error: not UTF-8 text"]


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert diagnostics(tmp_path / "nope.yaml") == ["m.yaml:1:1: error: no such file"]
    assert diagnostics(tmp_path) == ["m.yaml:1:1: error: is a directory, not a manifest"]


def test_an_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    path = write(tmp_path, MINIMAL)
    path.chmod(0)
    assert diagnostics(path) == ["m.yaml:1:1: error: cannot read: Permission denied"]


def test_a_pipe_is_read_up_to_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_MANIFEST_BYTES", 64)
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)

    def feed(text: bytes) -> None:
        with fifo.open("wb") as handle:
            handle.write(text)

    writer = threading.Thread(target=feed, args=(MINIMAL.encode(),))
    writer.start()
    assert len(loader.load(fifo).jobs) == 1
    writer.join()
    writer = threading.Thread(target=feed, args=(b"#" * 200,))
    writer.start()
    assert diagnostics(fifo) == ["m.yaml:1:1: error: the manifest is over the limit of 64 bytes"]
    writer.join()


def test_structure_problems_stop_before_jobs_only_when_jobs_are_unusable(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 3\njobs:\n  - id: a\n    fps: 999\n")
    assert diagnostics(path) == [
        "m.yaml:1:10: error: version: 3 is not allowed; expected 1",
        "m.yaml:3:5: error: jobs[0] (a): prompt is required for text-to-video (or prompt_file)",
        "m.yaml:4:10: error: jobs[0].fps: 999 is greater than the maximum of 120",
    ]


def test_a_given_model_matrix_is_used(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\njobs:\n  - id: a\n    model: m1\n    prompt: p\n")
    matrix = matrix_of({"m1": ("text-to-video",)}, "test")
    assert loader.load(path, matrix=matrix).jobs[0].model == "m1"
    assert diagnostics(path)[0].startswith("m.yaml:4:12: error: jobs[0] (a): unknown model m1")
    assert loader.load(path, allow_unknown_models=True).jobs[0].model == "m1"


def test_a_model_the_matrix_gives_other_operations(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\njobs:\n  - id: a\n    model: m1\n    prompt: p\n")
    matrix = matrix_of({"m1": ("image-to-video",)}, "test")
    [warning] = loader.load(path, display="m.yaml", matrix=matrix).warnings
    assert str(warning) == (
        "m.yaml:4:12: warning: jobs[0] (a): model m1 does not list text-to-video "
        "(it lists: image-to-video); `vidbatch models --refresh` reads the live catalog"
    )
    assert diagnostics(path, matrix=matrix, strict=True) == [str(warning.as_error())]


def test_the_error_counts_its_diagnostics(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 2\njobs: []\n")
    with pytest.raises(ManifestError) as caught:
        loader.load(path)
    assert str(caught.value) == "2 error(s) in manifest"
    assert caught.value.exit_code == 2


def test_loading_twice_gives_equal_manifests(tmp_path: Path) -> None:
    path = write(
        tmp_path, "version: 1\njobs:\n  - id: g\n    prompt: p\n    matrix: {seed: [1, 2]}\n"
    )
    assert loader.load(path) == loader.load(path)


def test_manifest_vars_are_the_literal_values(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nvars: {price: 'costs $${n}', n: 2}\n" + JOBS)
    assert loader.load(path).vars == {"price": "costs ${n}", "n": 2}


def test_x_prefixed_keys_hold_anchors_and_are_ignored(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\n"
        "x-common: &common {model: veo3.1-fast, duration: 8}\n"
        "vars: {fps: 24}\n"
        "jobs:\n"
        "  - {id: a, <<: *common, fps: '${fps}', prompt: hello}\n"
        "xcommon: 1\n",
    )
    assert diagnostics(path) == ["m.yaml:6:1: error: xcommon: unknown field"]
    fixed = write(tmp_path, path.read_text().replace("xcommon: 1\n", ""))
    (job,) = loader.load(fixed).jobs
    assert (job.model, job.request["duration"], job.request["fps"]) == ("veo3.1-fast", 8, 24)
