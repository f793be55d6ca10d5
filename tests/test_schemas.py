"""The JSON Schemas and the model matrix shipped in the package, against the documentation.

tests/data/lemondata_doc.json holds, copied from the documentation page: the request
bodies of its curl example and its five python examples, and its model table.
tests/data/tokenlab_doc.json holds the same from the newest documentation (the
request examples of its create-video reference and video guide, its 47 video
models); tests/data/provider-openapi-video.json is the structure of its OpenAPI.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from runner.base import schema
from runner.catalog.models import OPERATIONS, builtin
from runner.manifest import loader
from runner.manifest.checks import ALIASES

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
DOC = json.loads((DATA / "lemondata_doc.json").read_text("utf-8"))
NEWEST = json.loads((DATA / "tokenlab_doc.json").read_text("utf-8"))
SPEC = json.loads((DATA / "provider-openapi-video.json").read_text("utf-8"))
SPEC_REQUEST = SPEC["components"]["schemas"]["VideoGenerationRequest"]
# The spec's resolution enum refuses 768p, which its own image-to-video example
# sends: vidbatch keeps resolution free text, and so does this copy of the spec.
SPEC_AS_DOCUMENTED = {
    **SPEC_REQUEST,
    "properties": {**SPEC_REQUEST["properties"], "resolution": {"type": "string"}},
}
REQUESTS = {
    **{f"first page: {k}": v for k, v in DOC["requests"].items()},
    **{f"newest: {k}": v for k, v in NEWEST["requests"].items()},
}
EXAMPLES = sorted((REPO / "manifests").glob("*.yaml"))
SCHEMA_FILES = ["manifest.schema.json", "video-request.schema.json", "lockfile.schema.json"]


def packaged(name: str) -> Any:
    """A file of runner/schemas, read the way an installed package reads it."""
    return json.loads(resources.files("runner").joinpath("schemas", name).read_text("utf-8"))


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_each_schema_is_valid_against_its_metaschema(name: str) -> None:
    document = packaged(name)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(document)
    assert document["$id"].endswith(name)


def test_the_schema_module_serves_the_packaged_files() -> None:
    assert schema.load("manifest") == packaged("manifest.schema.json")
    assert schema.load("request") == packaged("video-request.schema.json")
    assert schema.load("lockfile") == packaged("lockfile.schema.json")


def test_the_request_schema_keeps_the_27_fields_of_the_first_page() -> None:
    request = packaged("video-request.schema.json")
    assert list(request["properties"])[:27] == [
        "model", "prompt", "operation", "image_url", "image", "reference_images",
        "reference_image_type", "video_url", "audio_url", "task_id", "extend_at",
        "extend_times", "duration", "aspect_ratio", "resolution", "output_audio", "fps",
        "negative_prompt", "seed", "cfg_scale", "motion_strength", "start_image",
        "end_image", "size", "watermark", "effect_type", "user",
    ]  # fmt: skip
    assert request["additionalProperties"] is False
    properties = request["properties"]
    assert properties["operation"]["enum"] == list(OPERATIONS)
    assert properties["reference_image_type"]["enum"] == ["asset", "style"]
    assert (properties["fps"]["minimum"], properties["fps"]["maximum"]) == (1, 120)
    assert (properties["cfg_scale"]["minimum"], properties["cfg_scale"]["maximum"]) == (0, 20)
    bounds = (properties["motion_strength"]["minimum"], properties["motion_strength"]["maximum"])
    assert bounds == (0, 1)
    assert properties["model"]["default"] == NEWEST["default_model"]


def test_every_field_of_the_newest_spec_is_a_field_or_an_alias() -> None:
    properties = packaged("video-request.schema.json")["properties"]
    for name in SPEC_REQUEST["properties"]:
        assert name in properties or name in ALIASES, name
        canonical = ALIASES.get(name, name)
        assert canonical in properties, name
    assert set(properties) <= set(SPEC_REQUEST["properties"])  # the first page's are there too


@pytest.mark.parametrize("name", sorted(SPEC_REQUEST["properties"]))
def test_every_range_and_enum_is_at_least_the_newest_one(name: str) -> None:
    """What the newest spec accepts at a field's limits, the request schema accepts."""
    spec = SPEC_REQUEST["properties"][name]
    ours = schema.field_validator(ALIASES.get(name, name))
    samples: list[Any] = list(spec.get("enum", ()))
    for bound in ("minimum", "maximum"):
        if bound in spec:
            samples.append(spec[bound])
    item = {"string": "https://example.com/a.jpg", "object": None}.get(
        spec.get("items", {}).get("type", ""), "x"
    )
    if spec.get("type") == "array" and item is not None:
        samples += [[item] * spec.get("minItems", 1), [item] * spec.get("maxItems", 1)]
    for sample in samples:
        assert list(ours.iter_errors(sample)) == [], (name, sample)


def test_the_kling_elements_shape() -> None:
    element = {"name": "cat", "element_input_urls": ["https://e.x/a.png", "https://e.x/b.png"]}
    check = schema.field_validator("kling_elements")
    assert list(check.iter_errors([element, {**element, "description": "a cat"}])) == []
    for bad in (
        [],
        [element] * 4,
        [{"name": "cat"}],
        [{**element, "element_input_urls": ["https://e.x/a.png"]}],
        [{**element, "name": "x" * 65}],
        [{**element, "colour": "red"}],
    ):
        assert list(check.iter_errors(bad)), bad


def test_manifest_job_fields_are_the_request_fields() -> None:
    manifest_schema = packaged("manifest.schema.json")
    request = packaged("video-request.schema.json")["properties"]
    fields = manifest_schema["$defs"]["fields"]["properties"]
    assert list(fields) == list(request)
    for name, definition in request.items():
        if name != "seed":  # the manifest also takes seed: random
            assert fields[name] == definition, name
    seed = {k: v for k, v in request["seed"].items() if k != "description"}
    assert fields["seed"]["anyOf"] == [seed, {"const": "random"}]


@pytest.mark.parametrize("section", ["job", "defaults"])
def test_jobs_and_defaults_refer_to_every_field_and_alias(section: str) -> None:
    definitions = packaged("manifest.schema.json")["$defs"]
    properties = definitions[section]["properties"]
    fields = definitions["fields"]["properties"]

    def refers_to(prop: dict[str, Any], name: str) -> bool:
        ref = {"$ref": f"#/$defs/fields/properties/{name}"}
        if fields[name].get("type") == "string":
            return prop.get("$ref") == ref["$ref"]
        # Non-string fields also take a whole-value ${name} template.
        return prop["anyOf"] == [ref, {"$ref": "#/$defs/template"}]

    for name in fields:
        assert refers_to(properties[name], name), name
    for alias, name in ALIASES.items():
        assert refers_to(properties[alias], name), alias
    runner_only = {"id", "matrix", "prompt_file", "extra"} if section == "job" else {"extra"}
    assert set(properties) == {*definitions["fields"]["properties"], *ALIASES, *runner_only}
    assert definitions[section]["additionalProperties"] is False


def test_models_json_holds_the_first_page_and_the_newest_models() -> None:
    catalog = packaged("models.json")
    entries = catalog["models"]
    assert catalog["operations"] == list(OPERATIONS)
    assert catalog["default_model"] == NEWEST["default_model"] == builtin().default_model
    assert set(entries) == set(DOC["models"]) | set(NEWEST["models"])
    assert len(DOC["models"]) == 36 and len(NEWEST["models"]) == 47
    assert len(set(DOC["models"]) & set(NEWEST["models"])) == 15
    for model, operations in DOC["models"].items():
        assert entries[model]["operations"] == operations, model
        assert "first-page" in entries[model]["sources"]
    for model, listed in NEWEST["models"].items():
        assert "newest-model-pages" in entries[model]["sources"], model
        assert entries[model]["pricing"] == {"listed": listed["price"]}
    for model, operations in NEWEST["operations"].items():
        assert entries[model]["operations"] == operations, model
    for model, resolutions in NEWEST["resolutions"].items():
        assert entries[model]["resolutions"] == resolutions, model
    for model, caps in NEWEST["max_inputs"].items():
        assert entries[model]["max_inputs"] == caps, model
        assert builtin().models[model].max_inputs == caps
    for model, entry in entries.items():
        assert entry["sources"] and set(entry["sources"]) <= set(catalog["sources"]), model
        if entry["operations"] is not None:
            assert set(entry["operations"]) <= set(OPERATIONS), model
    unknown = {m for m, e in entries.items() if e["operations"] is None}
    assert unknown and unknown <= set(NEWEST["models"])  # only the newest pages lack them
    assert builtin().models["happyhorse-1.0"].operations is None
    assert builtin().models["sora-2"].operations == ("text-to-video", "image-to-video")


def test_there_are_examples() -> None:
    names = {path.stem for path in EXAMPLES}
    assert {"demo", "text-to-video", "image-to-video", "reference-to-video"} <= names
    assert {"start-end-to-video", "video-to-video", "motion-control"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_manifest_validates_and_loads(path: Path) -> None:
    text = path.read_text("utf-8")
    assert text.startswith("# yaml-language-server: $schema=../schemas/manifest.schema.json\n")
    document = yaml.safe_load(text)
    errors = list(schema.validator("manifest").iter_errors(document))
    assert errors == []
    loaded = loader.load(path)
    assert len(loaded.jobs) >= 1
    assert len(loaded.jobs) == len({job.key for job in loaded.jobs})


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_every_documented_request_is_accepted(name: str, tmp_path: Path) -> None:
    body = REQUESTS[name]
    assert list(schema.validator("request").iter_errors(body)) == []
    job = {"id": "doc", **body}
    document = {"version": 1, "jobs": [job]}
    assert list(schema.validator("manifest").iter_errors(document)) == []
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    read = loader.load(path, strict=True)  # not even a warning from the catalog
    loaded = read.jobs[0]
    assert read.warnings == ()
    assert list(Draft202012Validator(SPEC_AS_DOCUMENTED).iter_errors(loaded.request)) == []
    assert loaded.seed_mode == "derived"
    assert loaded.body(None) == {**body, "seed": loaded.seed}


def test_the_newest_spec_refuses_each_request_that_vidbatch_refuses() -> None:
    """tests/data/bad/newest-spec-refuses.yaml (located errors in its .expected)."""
    document = yaml.safe_load((DATA / "bad" / "newest-spec-refuses.yaml").read_text("utf-8"))
    spec = Draft202012Validator(SPEC_REQUEST)
    for job in document["jobs"]:
        body = {**document["defaults"], **{k: v for k, v in job.items() if k != "id"}}
        assert list(spec.iter_errors(body)), job["id"]
    expected = (DATA / "bad" / "newest-spec-refuses.expected").read_text("utf-8").splitlines()
    located = {int(line.split(":")[1]) for line in expected}
    assert located == set(range(8, 8 + len(document["jobs"])))  # one job a line, each refused


def test_the_documented_camel_case_aliases_are_accepted_by_the_manifest_schema() -> None:
    job = {
        "id": "camel",
        "model": "veo3.1",
        "prompt": "p",
        "referenceImages": ["https://example.com/a.jpg"],
        "referenceImageType": "asset",
        "outputAudio": True,
    }
    validator = schema.validator("manifest")
    assert list(validator.iter_errors({"version": 1, "jobs": [job]})) == []


def test_the_manifest_schema_refuses_what_the_loader_refuses() -> None:
    validator = schema.validator("manifest")
    bad = [
        {"jobs": [{"id": "a"}]},
        {"version": 2, "jobs": [{"id": "a"}]},
        {"version": 1, "jobs": []},
        {"version": 1, "jobs": [{"prompt": "no id"}]},
        {"version": 1, "jobs": [{"id": "-x"}]},
        {"version": 1, "jobs": [{"id": "a", "fps": 240}]},
        {"version": 1, "jobs": [{"id": "a", "aspectratio": "16:9"}]},
        {"version": 1, "jobs": [{"id": "a", "seed": "lucky"}]},
        {"version": 1, "jobs": [{"id": "a", "matrix": {"fps": []}}]},
        {"version": 1, "run": {"timeout": "20 minutes"}, "jobs": [{"id": "a"}]},
        {"version": 1, "vars": {"bad-name": 1}, "jobs": [{"id": "a"}]},
        {"version": 1, "defaults": {"id": "a"}, "jobs": [{"id": "a"}]},
    ]
    for document in bad:
        assert list(validator.iter_errors(document)), document


def test_the_product_example_validates_against_the_manifest_schema() -> None:
    document = yaml.safe_load(
        (REPO / "tests" / "data" / "good" / "product-example.yaml").read_text()
    )
    assert list(schema.validator("manifest").iter_errors(document)) == []
