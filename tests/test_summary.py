from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.lock import lockfile
from runner.review.results import LockView
from runner.review.summary import MAX_ROWS, render_markdown
from tests.netguard import no_network  # noqa: F401
from tests.reportfixtures import lock_document


def relative_view(
    document: dict[str, Any] | None = None, name: str = "manifests/demo.yaml"
) -> LockView:
    doc = document or lock_document()
    return LockView(name, Path("manifests/demo.lock.json"), doc, None)


def test_full_summary() -> None:
    assert render_markdown([relative_view()], 83.4) == (
        "## vidbatch: 3 of 6 jobs did not complete\n"
        "\n"
        "| manifest | completed | failed | timed out | uncertain | processing | total |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        "| `manifests/demo.yaml` | 2 | 1 | 1 | 1 | 1 | 6 |\n"
        "\n"
        "Elapsed: 1m 23s.\n"
        "\n"
        "### Jobs not completed\n"
        "\n"
        "| manifest | job | status | reason |\n"
        "| --- | --- | --- | --- |\n"
        "| `manifests/demo.yaml` | `late` | timed out | no final status before the timeout |\n"
        "| `manifests/demo.yaml` | `lost` | uncertain |"
        " no answer to the create request (read timeout) |\n"
        "| `manifests/demo.yaml` | `slow` | processing | still processing (task task-6) |\n"
        "| `manifests/demo.yaml` | `xss` | failed |"
        " Content policy: \\<img src=x onerror=alert(1)\\> blocked \\| see docs |\n"
        "\n"
        "### Outputs\n"
        "\n"
        "| job | model | seed | file |\n"
        "| --- | --- | ---: | --- |\n"
        "| `cat-garden` | `kling-v2.6-pro` | 42 | `manifests/renders/cat-garden.mp4` |\n"
        "| `spin[model=veo3.1-fast,seed=1]` | `veo3.1-fast` | 1 |"
        " `manifests/renders/spin a.mp4` |\n"
        "| `spin[model=veo3.1-fast,seed=1]` | `veo3.1-fast` | 1 |"
        " `manifests/renders/spin a-1.mp4` |\n"
    )


def test_all_completed_without_elapsed() -> None:
    document = lock_document()
    document["jobs"] = {"cat-garden": document["jobs"]["cat-garden"]}
    text = render_markdown([relative_view(document)], None)
    assert text.startswith(
        "## vidbatch: all 1 jobs completed\n\n"
        "| manifest | completed | total |\n| --- | ---: | ---: |\n"
        "| `manifests/demo.yaml` | 1 | 1 |\n\n### Outputs\n"
    )
    assert "Elapsed" not in text
    assert "not completed" not in text


def test_several_manifests_get_a_total_row(tmp_path: Path) -> None:
    fresh = LockView("b.yaml", tmp_path / "b.lock.json", lockfile.empty(), frozenset({"x"}))
    text = render_markdown([relative_view(), fresh], 5.0)
    assert (
        "| manifest | completed | failed | timed out | uncertain | processing | not run | total |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        "| `manifests/demo.yaml` | 2 | 1 | 1 | 1 | 1 | 0 | 6 |\n"
        "| `b.yaml` | 0 | 0 | 0 | 0 | 0 | 1 | 1 |\n"
        "| **total** | 2 | 1 | 1 | 1 | 1 | 1 | 7 |\n\nElapsed: 5.0s.\n"
    ) in text
    assert "| `b.yaml` | `x` | not run | not run: no entry in the lockfile |" in text


def test_only_in_flight_jobs() -> None:
    document = lock_document()
    document["jobs"] = {"slow": document["jobs"]["slow"]}
    assert render_markdown([relative_view(document)], None).startswith(
        "## vidbatch: 0 of 1 jobs completed\n"
    )


def test_no_jobs() -> None:
    empty = LockView("a.yaml", Path("a.lock.json"), lockfile.empty(), None)
    assert render_markdown([empty], 0.0) == (
        "## vidbatch: no jobs\n\n"
        "| manifest | completed | total |\n| --- | ---: | ---: |\n"
        "| `a.yaml` | 0 | 0 |\n\nElapsed: 0.0s.\n"
    )


def test_cells_cannot_break_the_table() -> None:
    document = lock_document()
    entry = document["jobs"].pop("xss")
    entry["error"] = {"message": "line one\nline | two `code` *bold* & <b>"}
    document["jobs"] = {"we`ird|key": entry}
    text = render_markdown([relative_view(document, name="a|b.yaml")], None)
    assert (
        "| `a\\|b.yaml` | `we'ird\\|key` | failed |"
        " line one line \\| two \\`code\\` \\*bold\\* &amp; \\<b\\> |\n"
    ) in text


def test_long_tables_are_capped() -> None:
    document = lock_document()
    failed = document["jobs"]["xss"]
    document["jobs"] = {f"job{i:03d}": failed for i in range(MAX_ROWS + 5)}
    text = render_markdown([relative_view(document)], None)
    assert text.count("| failed | Content policy") == MAX_ROWS
    assert text.endswith(
        "| `manifests/demo.yaml` | `job099` | failed |"
        " Content policy: \\<img src=x onerror=alert(1)\\> blocked \\| see docs |\n"
        "\n... and 5 more (see the lockfile).\n"
    )
