"""JUnit XML for CI: one testsuite per manifest, one testcase per job key.

A job that failed, timed out or is uncertain is a failure carrying the API's
message; a job still in flight or not run yet is skipped, saying why.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from runner.review.results import FAILURES, JobRow, LockView, cost_total, has_estimates, output_file

# XML 1.0 cannot carry these code points at all, escaped or not.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def render_junit(views: Sequence[LockView]) -> str:
    """The JUnit XML document for ``views``, as text with an XML declaration."""
    root = ET.Element("testsuites", name="vidbatch")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    time_sum = 0.0
    for view in views:
        suite, counts, seconds = _suite(view)
        root.append(suite)
        for name in totals:
            totals[name] += counts[name]
        time_sum += seconds
    for name, count in totals.items():
        root.set(name, str(count))
    root.set("time", _seconds(time_sum))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _suite(view: LockView) -> tuple[ET.Element, dict[str, int], float]:
    suite = ET.Element("testsuite", name=_clean(view.manifest))
    counts = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    total = 0.0
    for row in view.rows():
        suite.append(_case(view, row))
        counts["tests"] += 1
        if row.status in FAILURES:
            counts["failures"] += 1
        elif row.status != "completed":
            counts["skipped"] += 1
        total += row.time_taken or 0.0
    for name, count in counts.items():
        suite.set(name, str(count))
    suite.set("time", _seconds(total))
    if not has_estimates([view]):  # a lockfile older than estimates shows as it did
        return suite, counts, total
    cost = cost_total([view])
    properties = ET.Element("properties")
    for name, value in cost.as_json().items():
        ET.SubElement(properties, "property", name=f"estimated_cost_{name}", value=str(value))
    suite.insert(0, properties)
    return suite, counts, total


def _case(view: LockView, row: JobRow) -> ET.Element:
    case = ET.Element("testcase", classname=_clean(view.manifest), name=_clean(row.key))
    case.set("time", _seconds(row.time_taken or 0.0))
    found = row.estimate
    if found is not None:
        properties = ET.SubElement(case, "properties")
        ET.SubElement(properties, "property", name="estimated_cost", value=_clean(found.text()))
    if row.status in FAILURES:
        failure = ET.SubElement(case, "failure", message=_clean(row.reason), type=row.status)
        failure.text = _clean(_details(row))
    elif row.status != "completed":
        ET.SubElement(case, "skipped", message=_clean(row.reason))
    if row.status == "completed" or row.outputs:
        ET.SubElement(case, "system-out").text = _clean(_outputs(view, row))
    return case


def _details(row: JobRow) -> str:
    entry, error = row.entry or {}, row.error or {}
    lines = [f"status: {row.status}"]
    for name in ("status", "type", "code", "param"):
        if error.get(name) is not None:
            lines.append(f"error {name}: {error[name]}")
    for name in ("task_id", "attempts", "submitted_at", "finished_at"):
        if entry.get(name) is not None:
            lines.append(f"{name}: {entry[name]}")
    model = row.request.get("model")
    if model is not None:
        lines.append(f"model: {model}")
    if row.seed is not None:
        lines.append(f"seed: {row.seed}")
    return "\n".join(lines)


def _outputs(view: LockView, row: JobRow) -> str:
    lines = []
    for output in row.outputs:
        file = output_file(view, output)
        lines.append(
            file.as_posix() if file is not None else f"not downloaded: {output.get('url')}"
        )
    return "\n".join(lines) or "no outputs"


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
