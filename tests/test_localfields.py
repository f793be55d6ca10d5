"""Local files in the newest list fields and in kling_elements."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.base.errors import ManifestError
from runner.manifest import loader
from runner.manifest.job import LocalFile

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


def write(folder: Path, text: str) -> Path:
    (folder / "assets").mkdir(exist_ok=True)
    for name in ("a.png", "b.png", "c.png"):
        (folder / "assets" / name).write_bytes(PNG)
    (folder / "assets" / "clip.mp4").write_bytes(b"\0\0\0\x18ftypmp42")
    path = folder / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_list_fields_and_elements_take_local_files(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\njobs:\n"
        "  - id: refs\n    model: seedance-2.0\n    prompt: p\n"
        "    image_urls: [assets/a.png, https://example.com/x.png]\n"
        "    video_urls: [assets/clip.mp4]\n"
        "  - id: elements\n    model: kling-3.0-video\n    prompt: '@cat walks'\n"
        "    image_url: https://example.com/cat.png\n"
        "    kling_elements: [{name: cat, element_input_urls: [assets/b.png, assets/c.png]}]\n",
    )
    refs, elements = loader.load(path).jobs
    assert isinstance(refs.request["image_urls"][0], LocalFile)
    assert refs.request["image_urls"][1] == "https://example.com/x.png"
    body = refs.body(None)
    assert body["image_urls"][0].startswith("data:image/png;base64,")
    assert body["video_urls"][0].startswith("data:video/mp4;base64,")
    assert refs.operation == "reference-to-video"  # inferred from image_urls
    sent = elements.body(None)["kling_elements"][0]
    assert sent["name"] == "cat"
    assert all(url.startswith("data:image/png;base64,") for url in sent["element_input_urls"])


def test_a_missing_file_in_an_element_is_located(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\njobs:\n"
        "  - id: elements\n    model: kling-3.0-video\n    prompt: p\n"
        "    image_url: https://example.com/cat.png\n"
        "    kling_elements: [{name: cat, element_input_urls: [assets/b.png, assets/no.png]}]\n",
    )
    with pytest.raises(ManifestError) as caught:
        loader.load(path, display="m.yaml")
    assert [str(d) for d in caught.value.diagnostics] == [
        "m.yaml:7:69: error: jobs[0].kling_elements[0].element_input_urls[1]: "
        "assets/no.png: no such file"
    ]
