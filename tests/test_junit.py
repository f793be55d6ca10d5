from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from runner.lock import lockfile
from runner.review.junit import render_junit
from runner.review.results import LockView
from tests.netguard import no_network  # noqa: F401
from tests.reportfixtures import XSS_ERROR, lock_document, view


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {case.attrib["name"]: case for case in root.iter("testcase")}


def test_totals_and_one_suite_per_manifest(tmp_path: Path) -> None:
    other = LockView("manifests/other.yaml", tmp_path / "o.lock.json", lockfile.empty(), None)
    root = ET.fromstring(render_junit([view(tmp_path), other]))
    assert root.tag == "testsuites"
    assert root.attrib == {
        "name": "vidbatch",
        "tests": "6",
        "failures": "3",
        "errors": "0",
        "skipped": "1",
        "time": "147.500",
    }
    suites = root.findall("testsuite")
    assert [s.attrib for s in suites] == [
        {
            "name": "manifests/demo.yaml",
            "tests": "6",
            "failures": "3",
            "errors": "0",
            "skipped": "1",
            "time": "147.500",
        },
        {
            "name": "manifests/other.yaml",
            "tests": "0",
            "failures": "0",
            "errors": "0",
            "skipped": "0",
            "time": "0.000",
        },
    ]


def test_one_testcase_per_job_with_classname_and_time(tmp_path: Path) -> None:
    root = ET.fromstring(render_junit([view(tmp_path)]))
    assert [
        (c.attrib["classname"], c.attrib["name"], c.attrib["time"]) for c in root.iter("testcase")
    ] == [
        ("manifests/demo.yaml", "cat-garden", "75.000"),
        ("manifests/demo.yaml", "late", "0.000"),
        ("manifests/demo.yaml", "lost", "0.000"),
        ("manifests/demo.yaml", "slow", "0.000"),
        ("manifests/demo.yaml", "spin[model=veo3.1-fast,seed=1]", "42.500"),
        ("manifests/demo.yaml", "xss", "30.000"),
    ]


def test_failures_carry_the_api_message(tmp_path: Path) -> None:
    found = cases(ET.fromstring(render_junit([view(tmp_path)])))
    failure = found["xss"].find("failure")
    assert failure is not None
    assert failure.attrib == {"message": XSS_ERROR, "type": "failed"}
    assert failure.text == (
        "status: failed\nerror status: 400\nerror type: invalid_request_error\n"
        "error code: content_policy\ntask_id: task-3\nattempts: 1\n"
        "submitted_at: 2026-01-01T10:00:01Z\nfinished_at: 2026-01-01T10:00:31Z\n"
        "model: kling-v2.6-pro\nseed: 7"
    )
    lost = found["lost"].find("failure")
    assert lost is not None
    assert lost.attrib == {
        "message": "no answer to the create request (read timeout)",
        "type": "uncertain",
    }
    late = found["late"].find("failure")
    assert late is not None
    assert late.attrib == {"message": "no final status before the timeout", "type": "timed_out"}


def test_unfinished_jobs_are_skipped_with_the_reason(tmp_path: Path) -> None:
    root = ET.fromstring(render_junit([view(tmp_path, frozenset({"slow", "fresh"}))]))
    found = cases(root)
    assert [(e.tag, e.attrib) for e in found["slow"]] == [
        ("skipped", {"message": "still processing (task task-6)"})
    ]
    assert [(e.tag, e.attrib) for e in found["fresh"]] == [
        ("skipped", {"message": "not run: no entry in the lockfile"})
    ]


def test_completed_jobs_list_their_outputs(tmp_path: Path) -> None:
    found = cases(ET.fromstring(render_junit([view(tmp_path)])))
    assert [e.tag for e in found["cat-garden"]] == ["system-out"]
    out = found["spin[model=veo3.1-fast,seed=1]"].find("system-out")
    assert out is not None
    assert (
        out.text
        == f"{tmp_path.as_posix()}/renders/spin a.mp4\n{tmp_path.as_posix()}/renders/spin a-1.mp4"
    )


def test_uncertain_without_an_error_explains_itself(tmp_path: Path) -> None:
    document = lock_document()
    document["jobs"]["lost"]["error"] = None
    lock_view = LockView("m.yaml", tmp_path / "m.lock.json", document, frozenset({"lost"}))
    failure = ET.fromstring(render_junit([lock_view])).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.attrib["message"] == (
        "the submission was sent but no answer came back; it is not sent again unless the "
        "run is given --resubmit-uncertain"
    )


def test_characters_xml_cannot_carry_are_replaced(tmp_path: Path) -> None:
    document = lock_document()
    document["jobs"]["xss"]["error"] = {"message": "bad\x00byte\x1b[31m and \ud800"}
    lock_view = LockView("m.yaml", tmp_path / "m.lock.json", document, frozenset({"xss"}))
    text = render_junit([lock_view])
    text.encode("utf-8")  # no lone surrogate left
    failure = ET.fromstring(text).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.attrib["message"] == "bad\ufffdbyte\ufffd[31m and \ufffd"


def test_document_starts_with_a_declaration_and_ends_with_a_newline(tmp_path: Path) -> None:
    text = render_junit([view(tmp_path)])
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>\n<testsuites ")
    assert text.endswith("</testsuites>\n")


def test_no_views_is_an_empty_report() -> None:
    assert render_junit([]) == (
        "<?xml version='1.0' encoding='utf-8'?>\n"
        '<testsuites name="vidbatch" tests="0" failures="0" errors="0" skipped="0" '
        'time="0.000" />\n'
    )
