"""The JSON Schemas and the model matrix shipped in the package, against the documentation.

tests/data/lemondata_doc.json holds, copied from the documentation page: the request
bodies of its curl example and its five python examples, and its model table.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from runner import manifest, schema
from runner.checks import ALIASES
from runner.models import OPERATIONS, builtin

REPO = Path(__file__).resolve().parent.parent
DOC = json.loads((REPO / "tests" / "data" / "lemondata_doc.json").read_text("utf-8"))
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


def test_the_request_schema_has_the_27_documented_fields() -> None:
    request = packaged("video-request.schema.json")
    assert list(request["properties"]) == [
        "model", "prompt", "operation", "image_url", "image", "reference_images",
        "reference_image_type", "video_url", "audio_url", "task_id", "extend_at",
        "extend_times", "duration", "aspect_ratio", "resolution", "output_audio", "fps",
        "negative_prompt", "seed", "cfg_scale", "motion_strength", "start_image",
        "end_image", "size", "watermark", "effect_type", "user",
    ]  # fmt: skip
    assert request["additionalProperties"] is False
    properties = request["properties"]
    assert properties["operation"]["enum"] == list(OPERATIONS)
    assert properties["reference_images"]["maxItems"] == 3
    assert properties["reference_image_type"]["enum"] == ["asset", "style"]
    assert (properties["fps"]["minimum"], properties["fps"]["maximum"]) == (1, 120)
    assert (properties["cfg_scale"]["minimum"], properties["cfg_scale"]["maximum"]) == (0, 20)
    bounds = (properties["motion_strength"]["minimum"], properties["motion_strength"]["maximum"])
    assert bounds == (0, 1)


def test_manifest_job_fields_are_the_request_fields() -> None:
    manifest_schema = packaged("manifest.schema.json")
    request = packaged("video-request.schema.json")["properties"]
    fields = manifest_schema["$defs"]["fields"]["properties"]
    assert list(fields) == list(request)
    for name, definition in request.items():
        if name != "seed":  # the manifest also takes seed: random
            assert fields[name] == definition, name
    assert fields["seed"]["anyOf"] == [{"type": "integer"}, {"const": "random"}]


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


def test_models_json_is_the_documented_matrix() -> None:
    models = packaged("models.json")
    assert len(models["models"]) == 36
    assert models["operations"] == list(OPERATIONS)
    assert {m: v["operations"] for m, v in models["models"].items()} == DOC["models"]
    assert builtin().models == {m: tuple(ops) for m, ops in DOC["models"].items()}
    for entry in models["models"].values():
        assert set(entry["operations"]) <= set(OPERATIONS)


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
    loaded = manifest.load(path)
    assert len(loaded.jobs) >= 1
    assert len(loaded.jobs) == len({job.key for job in loaded.jobs})


@pytest.mark.parametrize("name", sorted(DOC["requests"]))
def test_every_documented_request_is_accepted(name: str, tmp_path: Path) -> None:
    body = DOC["requests"][name]
    assert list(schema.validator("request").iter_errors(body)) == []
    job = {"id": "doc", **body}
    document = {"version": 1, "jobs": [job]}
    assert list(schema.validator("manifest").iter_errors(document)) == []
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    loaded = manifest.load(path).jobs[0]
    assert loaded.seed_mode == "derived"
    assert loaded.body(None) == {**body, "seed": loaded.seed}


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
