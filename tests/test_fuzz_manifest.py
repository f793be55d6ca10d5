"""Property tests: no input, however malformed, gets past ``validate`` unreported.

Whatever the bytes, ``vidbatch validate`` exits 0 or 2, never shows a traceback,
and on exit 2 prints only located diagnostics followed by one summary line.
"""

from __future__ import annotations

import functools
import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner import cli
from runner.base.schema import request_fields
from runner.cli import Context, main

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "manifests").glob("*.yaml"))
BASE = """version: 1
defaults:
  model: kling-v2.6-pro
  duration: 5
  aspect_ratio: "16:9"
vars:
  style: cinematic lighting
run:
  concurrency: 4
  rate: 2
  timeout: 20m
  poll: {initial: 5s, max: 30s}
output:
  dir: renders/fuzz
  name: "${job}.mp4"
jobs:
  - id: cat-garden
    prompt: A cat walking through a garden, ${style}
    seed: 42
  - id: spin
    operation: image-to-video
    image_url: assets/shoe.png
    prompt: Slow turntable spin
    matrix:
      model: [kling-v2.6-pro, veo3.1-fast]
      seed: [1, 2]
"""
SOURCES = [BASE, *(p.read_text("utf-8") for p in EXAMPLES)]
SUMMARY = re.compile(r"^vidbatch: \d+ error\(s\) in manifest; nothing was submitted$")
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder like manifests/: the example assets, and room for one manifest.

    Building the argument parser costs more than validating a small manifest, so
    the fuzz tests build it once; the parser itself is the real one.
    """
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(REPO / "manifests" / "assets", root / "assets")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "build_parser", functools.cache(cli.build_parser))
        yield root


def check(folder: Path, data: bytes) -> None:
    """Validate ``data`` as a manifest and hold the output to the contract."""
    path = folder / "fuzz.yaml"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    env = {"HOME": str(folder), "XDG_CACHE_HOME": str(folder / "cache")}
    code = main(["validate", str(path)], Context(environ=env, stdout=out, stderr=err))
    text = out.getvalue() + err.getvalue()
    assert "Traceback" not in text
    assert "internal error" not in text
    assert code in (0, 2), text
    lines = err.getvalue().split("\n")
    assert lines.pop() == ""
    located = re.compile(rf"^{re.escape(str(path))}:\d+:\d+: (error|warning): .+$")
    if code == 0:
        assert all(located.match(line) and ": warning: " in line for line in lines), lines
        assert re.fullmatch(rf"{re.escape(str(path))}: ok \(\d+ jobs?\)\n", out.getvalue())
        return
    assert out.getvalue() == ""
    assert SUMMARY.match(lines.pop()), text
    assert any(": error: " in line for line in lines), "exit 2 without an error"
    for line in lines:
        assert located.match(line), line


def test_every_source_is_valid_to_begin_with(folder: Path) -> None:
    assert len(SOURCES) >= 2
    for source in SOURCES:
        path = folder / "fuzz.yaml"
        path.write_text(source, encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        env = {"HOME": str(folder), "XDG_CACHE_HOME": str(folder / "cache")}
        assert main(["validate", str(path)], Context(environ=env, stdout=out, stderr=err)) == 0
        assert err.getvalue() == ""


YAMLISH = st.text(
    alphabet=st.sampled_from(list("abcdeijopsv019 :-_[]{},&*!|>'\"#%@`\n\t$.?<=~\\")),
    max_size=300,
)


@FUZZ
@given(YAMLISH)
def test_random_yamlish_text(folder: Path, text: str) -> None:
    check(folder, text.encode("utf-8"))


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(folder: Path, data: bytes) -> None:
    check(folder, data)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """An example manifest with lines deleted, duplicated, moved, or edited."""
    lines = draw(st.sampled_from(SOURCES)).split("\n")
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "move", "indent", "edit", "cut"]))
        if action == "delete":
            del lines[at]
        elif action == "duplicate":
            lines.insert(at, lines[at])
        elif action == "move":
            lines.insert(draw(st.integers(0, len(lines) - 1)), lines.pop(at))
        elif action == "indent":
            lines[at] = draw(st.sampled_from(["", " ", "  ", "\t", "    - "])) + lines[at].lstrip()
        elif action == "edit":
            line = lines[at]
            cut = draw(st.integers(0, len(line)))
            lines[at] = line[:cut] + draw(YAMLISH.filter(lambda t: len(t) < 12)) + line[cut:]
        else:
            lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
    return "\n".join(lines)


@FUZZ
@given(mutated())
def test_mutated_examples(folder: Path, text: str) -> None:
    check(folder, text.encode("utf-8"))


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["random", "16:9", "yes", "on", "2024-01-01", "${style}", "${nope}", "$${x"]),
    st.sampled_from(["assets/shoe.png", "../x.png", "/etc/passwd", "https://e.com/a.mp4", ""]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
KEYS = st.one_of(
    st.sampled_from([*request_fields(), "id", "matrix", "prompt_file", "extra", "outputAudio"]),
    st.text(max_size=12),
)
PLACES = [
    ("jobs", 0),
    ("jobs", 1),
    ("jobs", 1, "matrix"),
    ("defaults",),
    ("vars",),
    ("run",),
    ("run", "poll"),
    ("output",),
    (),
]


def _at(data: Any, place: tuple[str | int, ...]) -> Any:
    for step in place:
        data = data[step]
    return data


@FUZZ
@given(st.sampled_from(PLACES), KEYS, VALUES, st.booleans())
def test_wrong_values_in_every_place(
    folder: Path, place: tuple[str | int, ...], key: str, value: Any, replace_whole: bool
) -> None:
    data = yaml.load(BASE, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    target = _at(data, place)
    if replace_whole and place:
        parent = _at(data, place[:-1])
        parent[place[-1]] = value
    else:
        target[key] = value
    dumped = yaml.dump(
        data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True
    )
    check(folder, dumped.encode("utf-8"))
