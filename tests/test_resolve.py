"""runner.manifest.resolve (and runner.manifest.operations): what a checked manifest expands to."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from runner.base.errors import ManifestError
from runner.manifest import loader, outputs
from runner.manifest.job import Job, LocalFile, Manifest, OutputSettings, RunSettings, fingerprint
from runner.manifest.jobspec import derived_seed, key_value
from runner.manifest.operations import infer_operation, missing_inputs

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 16


def load(folder: Path, text: str, **kwargs: Any) -> Manifest:
    path = folder / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return loader.load(path, **kwargs)


def only(folder: Path, job: str) -> Job:
    jobs = load(folder, f"version: 1\njobs:\n  - id: j\n{job}").jobs
    assert len(jobs) == 1
    return jobs[0]


def test_a_plain_job_is_sent_with_its_operation_model_and_seed_written_out(
    tmp_path: Path,
) -> None:
    job = only(tmp_path, "    prompt: A cat\n")
    assert job.key == "j"
    assert job.job_id == "j"
    assert job.index == 0
    assert job.line == 3
    assert dict(job.request) == {
        "prompt": "A cat",
        "model": "veo3.1",  # the newest reference's default, written out
        "operation": "text-to-video",
        "seed": derived_seed("j"),
    }
    assert job.seed_mode == "derived"


def test_derived_seeds_are_stable_and_differ_per_key() -> None:
    # Pinned: changing the derivation would change every unseeded job's output.
    assert derived_seed("cat-garden") == 2000769087
    assert derived_seed("spin[model=veo3.1-fast,seed=1]") == 1862439656
    seeds = {derived_seed(f"job-{i}") for i in range(1000)}
    assert len(seeds) == 1000
    assert all(0 <= s < 2**31 for s in seeds)


def test_seed_modes(tmp_path: Path) -> None:
    jobs = load(
        tmp_path,
        "version: 1\njobs:\n"
        "  - {id: fixed, prompt: p, seed: 0}\n"
        "  - {id: derived, prompt: p}\n"
        "  - {id: random, prompt: p, seed: random}\n",
    ).jobs
    fixed, derived, random = jobs
    assert (fixed.seed_mode, fixed.seed, fixed.request["seed"]) == ("fixed", 0, 0)
    assert (derived.seed_mode, derived.seed) == ("derived", derived_seed("derived"))
    assert random.seed_mode == "random"
    assert "seed" not in random.request
    assert random.seed is None
    assert random.locked_request(77)["seed"] == 77
    assert random.body(77)["seed"] == 77
    with pytest.raises(ValueError):
        random.body(None)


def test_matrix_keys_name_every_axis_in_sorted_order(tmp_path: Path) -> None:
    jobs = load(
        tmp_path,
        "version: 1\nvars: {mood: calm}\njobs:\n"
        "  - id: grid\n    prompt: ${mood} ${style}\n"
        "    matrix:\n"
        "      seed: [2, 1]\n"
        "      style: [noir]\n"
        "      model: [veo3.1-fast, kling-v2.6-pro]\n",
    ).jobs
    assert [job.key for job in jobs] == [
        "grid[model=veo3.1-fast,seed=2,style=noir]",
        "grid[model=veo3.1-fast,seed=1,style=noir]",
        "grid[model=kling-v2.6-pro,seed=2,style=noir]",
        "grid[model=kling-v2.6-pro,seed=1,style=noir]",
    ]
    assert [(j.model, j.seed, j.request["prompt"]) for j in jobs] == [
        ("veo3.1-fast", 2, "calm noir"),
        ("veo3.1-fast", 1, "calm noir"),
        ("kling-v2.6-pro", 2, "calm noir"),
        ("kling-v2.6-pro", 1, "calm noir"),
    ]
    assert {job.job_id for job in jobs} == {"grid"}
    assert all(job.seed_mode == "fixed" for job in jobs)


def test_matrix_values_of_every_type_spell_out_in_keys(tmp_path: Path) -> None:
    jobs = load(
        tmp_path,
        "version: 1\njobs:\n"
        "  - id: v\n    prompt: ${x}\n"
        "    matrix:\n      x: [text, 7, 2.5, true, null, 'with space']\n"
        "  - id: r\n    model: veo3.1\n    prompt: p\n"
        "    matrix:\n      referenceImages: [[https://e.com/a.jpg, https://e.com/b.jpg]]\n",
    ).jobs
    assert [job.key for job in jobs] == [
        "v[x=text]",
        "v[x=7]",
        "v[x=2.5]",
        "v[x=true]",
        "v[x=null]",
        "v[x=with space]",
        'r[reference_images=["https://e.com/a.jpg","https://e.com/b.jpg"]]',
    ]
    assert [job.request["prompt"] for job in jobs[:6]] == [
        "text",
        "7",
        "2.5",
        "true",
        "null",
        "with space",
    ]
    assert jobs[6].operation == "reference-to-video"


def test_a_matrix_axis_overrides_a_variable_and_a_default(tmp_path: Path) -> None:
    jobs = load(
        tmp_path,
        "version: 1\ndefaults: {fps: 24}\nvars: {style: plain}\njobs:\n"
        "  - id: g\n    prompt: ${style}\n    matrix: {style: [noir], fps: [30]}\n",
    ).jobs
    assert [(j.key, j.request["prompt"], j.request["fps"]) for j in jobs] == [
        ("g[fps=30,style=noir]", "noir", 30),
    ]


def test_a_whole_template_keeps_its_type_except_in_text_fields(tmp_path: Path) -> None:
    job = only(
        tmp_path,
        "    prompt: ${n}\n    fps: ${n}\n    output_audio: ${on}\n    user: ${on}\n"
        "    matrix: {n: [24], 'on': [true]}\n",
    )
    assert job.request["prompt"] == "24"
    assert job.request["fps"] == 24
    assert job.request["output_audio"] is True
    assert job.request["user"] == "true"


def test_defaults_apply_and_the_job_wins(tmp_path: Path) -> None:
    jobs = load(
        tmp_path,
        "version: 1\ndefaults:\n  model: kling-v2.6-pro\n  duration: 5\n  aspect_ratio: 16:9\n"
        "jobs:\n  - {id: a, prompt: p}\n  - {id: b, prompt: p, duration: 10, model: veo3.1}\n",
    ).jobs
    assert [(j.model, j.request["duration"], j.request["aspect_ratio"]) for j in jobs] == [
        ("kling-v2.6-pro", 5, "16:9"),
        ("veo3.1", 10, "16:9"),
    ]


def test_camel_case_aliases_are_normalised(tmp_path: Path) -> None:
    job = only(
        tmp_path,
        "    model: veo3.1\n    prompt: p\n    referenceImages: [https://e.com/a.jpg]\n"
        "    referenceImageType: style\n    outputAudio: false\n",
    )
    assert job.request["reference_images"] == ["https://e.com/a.jpg"]
    assert job.request["reference_image_type"] == "style"
    assert job.request["output_audio"] is False
    assert not {"referenceImages", "referenceImageType", "outputAudio"} & set(job.request)


def test_extra_is_passed_through_and_templated(tmp_path: Path) -> None:
    jobs = load(
        tmp_path,
        "version: 1\nvars: {cam: dolly}\ndefaults:\n  extra: {provider_flag: 1, camera: static}\n"
        "jobs:\n  - id: a\n    prompt: p\n    extra: {camera: '${cam} zoom', nested: {k: [1]}}\n",
    ).jobs
    assert jobs[0].request["provider_flag"] == 1
    assert jobs[0].request["camera"] == "dolly zoom"
    assert jobs[0].request["nested"] == {"k": [1]}


def test_prompt_file_gives_the_prompt(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "cat.txt").write_text("A cat\nin a garden, ${style}\n", "utf-8")
    jobs = load(
        tmp_path,
        "version: 1\nvars: {style: noir}\njobs:\n"
        "  - {id: a, prompt_file: prompts/cat.txt}\n  - {id: b, prompt_file: prompts/cat.txt}\n",
    ).jobs
    assert [j.request["prompt"] for j in jobs] == ["A cat\nin a garden, noir"] * 2


def test_a_literal_dollar_brace(tmp_path: Path) -> None:
    job = only(tmp_path, "    prompt: costs $${price}\n")
    assert job.request["prompt"] == "costs ${price}"


@pytest.mark.parametrize(
    ("fields", "operation"),
    [
        ({}, "text-to-video"),
        ({"image_url": "u"}, "image-to-video"),
        ({"image": "d"}, "image-to-video"),
        ({"audio_url": "a", "image_url": "u"}, "audio-to-video"),
        ({"video_url": "v"}, "video-to-video"),
        ({"video_url": "v", "audio_url": "a"}, "video-to-video"),
        ({"reference_images": ["r"], "video_url": "v"}, "reference-to-video"),
        ({"image_url": "u", "video_url": "v"}, "motion-control"),
        ({"image_url": "u", "video_url": "v", "reference_images": ["r"]}, "motion-control"),
        ({"start_image": "s"}, "text-to-video"),
        ({"start_image": "s", "end_image": "e"}, "start-end-to-video"),
        (
            {"start_image": "s", "end_image": "e", "image_url": "u", "video_url": "v"},
            "start-end-to-video",
        ),
        ({"image_url": "", "reference_images": []}, "text-to-video"),
        ({"image_url": None}, "text-to-video"),
    ],
)
def test_operation_inference_follows_the_documented_order(
    fields: dict[str, Any], operation: str
) -> None:
    assert infer_operation({"prompt": "p", **fields}) == operation


def test_an_inferred_operation_is_written_out(tmp_path: Path) -> None:
    (tmp_path / "day.png").write_bytes(PNG)
    (tmp_path / "night.png").write_bytes(PNG)
    job = only(
        tmp_path,
        "    model: viduq2-pro\n    prompt: p\n"
        "    start_image: day.png\n    end_image: night.png\n",
    )
    assert job.request["operation"] == "start-end-to-video"
    assert job.operation == "start-end-to-video"


def test_an_explicit_operation_is_kept(tmp_path: Path) -> None:
    job = only(
        tmp_path,
        "    model: kling-video-o1-pro\n    operation: image-to-video\n    prompt: p\n"
        "    image_url: https://e.com/a.png\n    video_url: https://e.com/v.mp4\n",
    )
    assert job.operation == "image-to-video"


@pytest.mark.parametrize(
    ("operation", "fields", "message"),
    [
        ("text-to-video", {}, None),
        ("video-extension", {}, None),
        ("image-to-video", {}, "image-to-video needs image_url or image"),
        ("image-to-video", {"image": "d"}, None),
        ("start-end-to-video", {"end_image": "e"}, "start-end-to-video needs start_image"),
        ("motion-control", {}, "motion-control needs image_url and video_url"),
        ("motion-control", {"video_url": "v"}, "motion-control needs image_url"),
        (
            "reference-to-video",
            {"reference_images": []},
            "reference-to-video needs reference_images, image_urls, material_asset_id, "
            "material_asset_ids or video_urls",
        ),
        ("reference-to-video", {"image_urls": ["i"]}, None),
        ("reference-to-video", {"material_asset_id": "asset-1"}, None),
        ("reference-to-video", {"material_asset_ids": ["asset-1"]}, None),
        ("audio-to-video", {"audio_url": ""}, "audio-to-video needs audio_url or audio_urls"),
        ("video-to-video", {"task_id": "t"}, None),
        ("video-to-video", {"video_url": "v"}, None),
    ],
)
def test_missing_inputs(operation: str, fields: dict[str, Any], message: str | None) -> None:
    assert missing_inputs(fields, operation) == message


def test_local_inputs_become_local_files(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "a.png").write_bytes(PNG)
    job = only(
        tmp_path,
        "    model: veo3.1\n    prompt: p\n"
        "    reference_images: [assets/a.png, https://e.com/b.jpg, ./assets/a.png]\n",
    )
    refs = job.request["reference_images"]
    assert isinstance(refs[0], LocalFile)
    assert refs[1] == "https://e.com/b.jpg"
    assert refs[2] == refs[0]
    digest = hashlib.sha256(PNG).hexdigest()
    assert job.locked_request(None)["reference_images"] == [
        {"path": "assets/a.png", "sha256": digest},
        "https://e.com/b.jpg",
        {"path": "assets/a.png", "sha256": digest},
    ]
    assert job.body(None)["reference_images"][0].startswith("data:image/png;base64,")


def test_fingerprint_is_of_the_locked_request(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(PNG)
    jobs = load(
        tmp_path,
        "version: 1\njobs:\n  - {id: t, prompt: p, seed: 3}\n"
        "  - {id: i, prompt: p, image_url: a.png}\n"
        "  - {id: r, prompt: p, seed: random}\n",
    ).jobs
    for job in jobs:
        assert job.fingerprint == fingerprint(job.locked_request(None))
        assert job.fingerprint.startswith("sha256:")
        assert len(job.fingerprint) == len("sha256:") + 64
    assert "base64" not in str(jobs[1].locked_request(None))


MOVABLE = (
    "version: 1\ndefaults: {model: kling-v2.6-pro}\nvars: {style: noir}\n"
    "jobs:\n  - id: a\n    prompt: A cat, ${style}\n    image_url: assets/a.png\n"
    "    matrix: {seed: [1, 2]}\n"
)


def fingerprints(folder: Path, text: str = MOVABLE) -> list[str]:
    return [job.fingerprint for job in load(folder, text).jobs]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    (folder / "assets").mkdir(parents=True)
    (folder / "assets" / "a.png").write_bytes(PNG)
    return folder


def test_fingerprints_are_stable_across_loads_and_places(project: Path, tmp_path: Path) -> None:
    first = fingerprints(project)
    assert len(set(first)) == 2
    assert fingerprints(project) == first
    moved = tmp_path / "moved" / "elsewhere"
    shutil.copytree(project, moved)
    assert fingerprints(moved) == first  # the path is relative: the folder may move


def test_fingerprints_change_with_the_file_content_not_its_timestamp(project: Path) -> None:
    first = fingerprints(project)
    image = project / "assets" / "a.png"
    image.touch()
    assert fingerprints(project) == first
    image.write_bytes(PNG + b"!")
    changed = fingerprints(project)
    assert set(changed).isdisjoint(first)
    image.write_bytes(PNG)
    assert fingerprints(project) == first


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("vars: {style: noir}", "vars: {style: pastel}"),
        ("model: kling-v2.6-pro", "model: veo3.1-fast"),
        ("prompt: A cat", "prompt: A dog"),
        ("seed: [1, 2]", "seed: [1, 3]"),
        ("    matrix:", "    fps: 30\n    matrix:"),
    ],
)
def test_fingerprints_change_with_what_is_sent(project: Path, old: str, new: str) -> None:
    first = fingerprints(project)
    assert old in MOVABLE
    changed = fingerprints(project, MOVABLE.replace(old, new))
    assert changed != first


def test_fingerprints_ignore_what_is_not_sent(project: Path) -> None:
    first = fingerprints(project)
    reworded = "# a comment\n" + MOVABLE.replace(
        "version: 1\n", "version: 1\nrun: {concurrency: 9}\noutput: {dir: x}\n"
    ).replace("jobs:\n", "jobs:  # the set\n")
    assert fingerprints(project, reworded) == first


def test_a_derived_seed_follows_the_key(tmp_path: Path) -> None:
    jobs = load(
        tmp_path,
        "version: 1\njobs:\n  - id: g\n    prompt: p\n    matrix: {fps: [24, 30]}\n",
    ).jobs
    assert [job.seed for job in jobs] == [derived_seed("g[fps=24]"), derived_seed("g[fps=30]")]


def test_a_ten_thousand_job_matrix(tmp_path: Path) -> None:
    values = ", ".join(str(i) for i in range(100))
    jobs = load(
        tmp_path,
        "version: 1\ndefaults: {model: kling-v2.6-pro}\nvars: {style: noir}\n"
        "jobs:\n  - id: grid\n    prompt: shot ${a}, ${style}\n"
        f"    matrix:\n      a: [{values}]\n      seed: [{values}]\n",
    ).jobs
    assert len(jobs) == 10_000
    assert len({job.key for job in jobs}) == 10_000
    assert len({job.fingerprint for job in jobs}) == 10_000
    assert jobs[0].key == "grid[a=0,seed=0]"
    assert jobs[-1].key == "grid[a=99,seed=99]"
    assert jobs[-1].request["prompt"] == "shot 99, noir"
    assert jobs[123].fingerprint == fingerprint(jobs[123].locked_request(None))


def test_equal_but_differently_typed_values_render_differently(tmp_path: Path) -> None:
    # 1 == 1.0 == true in Python: a render cache must not mix them up
    jobs = load(
        tmp_path,
        "version: 1\njobs:\n  - id: v\n    prompt: 'n=${n}'\n    matrix: {n: [1, true, 1.0]}\n"
        "  - id: w\n    prompt: p\n    user: ${u}\n    matrix: {u: [0, false]}\n",
    ).jobs
    assert [(j.key, j.request.get("prompt"), j.request.get("user")) for j in jobs] == [
        ("v[n=1]", "n=1", None),
        ("v[n=true]", "n=true", None),
        ("v[n=1.0]", "n=1.0", None),
        ("w[u=0]", "p", "0"),
        ("w[u=false]", "p", "false"),
    ]


def test_renders_are_reused_by_the_matrix_items_they_read(tmp_path: Path) -> None:
    # A template's rendering depends on the items of the axes it names alone:
    # list items (unhashable) too, and an axis the template does not name
    # (seed here) leaves it as it is.
    jobs = load(
        tmp_path,
        "version: 1\nvars: {look: noir}\njobs:\n  - id: v\n"
        "    prompt: 'refs ${refs}, ${look}'\n    extra: {tag: '${look}-${refs}'}\n"
        "    matrix: {refs: [[a], [b, c]], seed: [1, 2]}\n",
    ).jobs
    assert [(j.key, j.request["prompt"], j.request["tag"]) for j in jobs] == [
        ('v[refs=["a"],seed=1]', 'refs ["a"], noir', 'noir-["a"]'),
        ('v[refs=["a"],seed=2]', 'refs ["a"], noir', 'noir-["a"]'),
        ('v[refs=["b","c"],seed=1]', 'refs ["b", "c"], noir', 'noir-["b", "c"]'),
        ('v[refs=["b","c"],seed=2]', 'refs ["b", "c"], noir', 'noir-["b", "c"]'),
    ]


def test_an_escaped_template_in_a_matrix_item_is_unescaped_in_every_combination(
    tmp_path: Path,
) -> None:
    # Only an item without templates is taken as it is; one with $${ is rendered
    # (once), so every combination sends the same text (the first one alone did).
    jobs = load(
        tmp_path,
        "version: 1\njobs:\n  - id: e\n    matrix: {prompt: ['a $${x} b'], seed: [1, 2]}\n",
    ).jobs
    assert [j.request["prompt"] for j in jobs] == ["a ${x} b", "a ${x} b"]


def test_a_template_problem_in_a_matrix_job_is_reported_once_where_it_is(
    tmp_path: Path,
) -> None:
    with pytest.raises(ManifestError) as caught:
        load(
            tmp_path,
            "version: 1\nvars: {mood: warm}\njobs:\n  - id: v\n    prompt: 'a ${mod} shot'\n"
            "    matrix: {seed: [1, 2, 3], aspect_ratio: ['16:9', '1:1']}\n",
        )
    assert [(d.line, d.col, d.message) for d in caught.value.diagnostics] == [
        (5, 13, "jobs[0].prompt: undefined variable ${mod}; did you mean ${mood}?")
    ]


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        ("text", "text"),
        ("with space", "with space"),
        (7, "7"),
        (-3, "-3"),
        (2.5, "2.5"),
        (1.0, "1.0"),
        (True, "true"),
        (None, "null"),
        (["a", 1], '["a",1]'),
        ({"k": "é"}, '{"k":"é"}'),
    ],
)
def test_key_value(value: Any, spelled: str) -> None:
    assert key_value(value) == spelled


@pytest.mark.parametrize(
    ("name", "problems"),
    [
        ("${job}.mp4", []),
        ("${id}/${model}-${seed}-${index}-${operation}.mp4", []),
        (
            "${jbo}.mp4",
            [
                "unknown name ${jbo} (known: job, model, seed, index, operation, id); "
                "did you mean ${job}?"
            ],
        ),
        ("../${job}.mp4", ["must stay inside output.dir (no absolute path, no ..)"]),
        ("/abs/${job}.mp4", ["must stay inside output.dir (no absolute path, no ..)"]),
        ("a\\..\\${job}.mp4", ["must stay inside output.dir (no absolute path, no ..)"]),
        ("..${job}.mp4", []),
    ],
)
def test_output_name_problems(name: str, problems: list[str]) -> None:
    assert outputs.name_problems(name) == problems


def test_output_clashes(tmp_path: Path) -> None:
    jobs = load(
        tmp_path,
        "version: 1\njobs:\n  - {id: a, prompt: p, seed: 1}\n  - {id: b, prompt: p, seed: 1}\n"
        "  - {id: c, prompt: p, seed: 2}\n  - {id: r, prompt: p, seed: random}\n",
    ).jobs
    assert outputs.clash("${job}.mp4", jobs) is None
    assert outputs.clash("${seed}.mp4", jobs) == (
        "a and b would both write 1.mp4; use ${job} in the name"
    )
    assert outputs.clash("${model}.mp4", jobs) == (
        "a and b would both write veo3.1.mp4, and 2 more clashes; use ${job} in the name"
    )
    assert outputs.clash("${nope}.mp4", jobs) is None  # reported as an unknown name instead


def test_keys_that_differ_only_in_unsafe_characters_clash(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load(
            tmp_path,
            "version: 1\njobs:\n  - id: x\n    prompt: ${a}\n    matrix: {a: [b c, b_c]}\n",
        )
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{tmp_path / 'm.yaml'}:1:1: error: output.name: x[a=b c] and x[a=b_c] would both write "
        "x[a=b_c].mp4; change a matrix value"
    ]


def test_variables_are_literal_text(tmp_path: Path) -> None:
    jobs = load(
        tmp_path,
        "version: 1\nvars: {price: 'costs $${amount}'}\njobs:\n"
        "  - id: g\n    prompt: '${price}, ${m}'\n    matrix: {m: ['$${raw}', 3]}\n",
    ).jobs
    assert [job.request["prompt"] for job in jobs] == [
        "costs ${amount}, ${raw}",
        "costs ${amount}, 3",
    ]


def test_whole_floats_in_integer_fields_are_sent_as_integers(tmp_path: Path) -> None:
    job = only(tmp_path, "    prompt: p\n    seed: 42.0\n    fps: 24.0\n    duration: 5.0\n")
    assert (job.seed_mode, job.seed) == ("fixed", 42)
    assert [type(job.request[k]) for k in ("seed", "fps", "duration")] == [int, int, int]
    assert job.request["fps"] == 24


GOOD = Path(__file__).resolve().parent / "data" / "good"


def test_the_product_example_resolves_as_documented() -> None:
    loaded = loader.load(GOOD / "product-example.yaml")
    assert [(j.key, j.model, j.seed, j.operation) for j in loaded.jobs] == [
        ("cat-garden", "kling-v2.6-pro", 42, "text-to-video"),
        ("spin[model=kling-v2.6-pro,seed=1]", "kling-v2.6-pro", 1, "image-to-video"),
        ("spin[model=kling-v2.6-pro,seed=2]", "kling-v2.6-pro", 2, "image-to-video"),
        ("spin[model=veo3.1-fast,seed=1]", "veo3.1-fast", 1, "image-to-video"),
        ("spin[model=veo3.1-fast,seed=2]", "veo3.1-fast", 2, "image-to-video"),
    ]
    assert loaded.jobs[0].request["prompt"] == "A cat walking through a garden, cinematic lighting"
    assert loaded.output.dir == GOOD / "renders" / "demo"


def test_the_kitchen_sink_resolves_exactly() -> None:
    loaded = loader.load(GOOD / "kitchen-sink.yaml")
    image = {"sha256": hashlib.sha256((GOOD / "assets" / "day.png").read_bytes()).hexdigest()}
    base = {
        "provider_hint": "fast",
        "model": "kling-v2.6-pro",
        "duration": 5,
        "aspect_ratio": "16:9",
        "output_audio": False,
    }
    refs = [{"path": "assets/shoe.jpg", **image}, "https://example.com/b.jpg"]
    expected = {
        "text": {
            **base,
            "prompt": "A cat, cinematic lighting, costs ${amount}",
            "fps": 24,
            "seed": 7,
            "operation": "text-to-video",
        },
        "lighthouse": {
            **base,
            "prompt": "A lighthouse at dusk,\nwaves rolling in, cinematic lighting",
            "operation": "text-to-video",
        },
        "frames": {
            **base,
            "model": "viduq2-pro",
            "start_image": {"path": "assets/day.png", **image},
            "end_image": {"path": "assets/night.png", **image},
            "prompt": "Day to night",
            "seed": derived_seed("frames"),
            "operation": "start-end-to-video",
        },
    }
    for look in ("warm", "cold blue"):
        for resolution in ("720p", "1080p"):
            key = f"refs[look={look},resolution={resolution}]"
            expected[key] = {
                **base,
                "model": "veo3.1",
                "camera": f"{look} dolly",
                "prompt": f"Keep the subject, {look}",
                "reference_images": refs,
                "reference_image_type": "style",
                "resolution": resolution,
                "seed": derived_seed(key),
                "operation": "reference-to-video",
            }
    assert {j.key: j.locked_request(None) for j in loaded.jobs} == expected
    assert [j.seed_mode for j in loaded.jobs] == ["fixed", "random", *["derived"] * 5]
    assert loaded.run == RunSettings(2, 0.5, 5400.0, 0.5, 60.0, 1)
    assert loaded.output == OutputSettings(GOOD / "out", "${id}/${model}-${seed}-${index}.mp4")
    assert loaded.vars == {"style": "cinematic lighting", "price": "costs ${amount}", "fps": 24}
