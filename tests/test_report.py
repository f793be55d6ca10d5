from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.cli import Context, main
from runner.lock import lockfile
from runner.review.report import default_path, render_html
from runner.review.report_assets import SCRIPT, STYLE
from runner.review.results import LockView, load_view, status_counts, time_taken
from tests.netguard import no_network  # noqa: F401
from tests.reportfixtures import XSS_ERROR, XSS_PROMPT, lock_document, view, write_lock


class _Page(HTMLParser):
    """Tags with their attributes, and the text of every element, as a browser would parse."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def attrs(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def card(html: str, key: str) -> str:
    match = re.search(
        r'<article class="[^"]*"[^>]*>\n<h3><span class="key">'
        + re.escape(key)
        + r"</span>.*?</article>",
        html,
        re.S,
    )
    assert match, key
    return match.group(0)


# --- results -------------------------------------------------------------------------


def test_time_taken_reads_lockfile_timestamps() -> None:
    assert time_taken("2026-01-01T10:00:00Z", "2026-01-01T10:01:15Z") == 75.0
    assert time_taken("2026-01-01T10:00:00.250Z", "2026-01-01T10:00:42.750Z") == 42.5
    assert time_taken("2026-01-01T10:00:00Z", None) is None
    assert time_taken(None, "2026-01-01T10:00:00Z") is None
    assert time_taken("yesterday", "2026-01-01T10:00:00Z") is None


def test_status_counts_cover_every_status(tmp_path: Path) -> None:
    counts = status_counts([view(tmp_path)])
    assert counts == {
        "completed": 2,
        "failed": 1,
        "timed_out": 1,
        "uncertain": 1,
        "processing": 1,
        "pending": 0,
        "not_run": 0,
    }


def test_selected_keys_limit_rows_and_mark_missing_ones_not_run(tmp_path: Path) -> None:
    lock_view = view(tmp_path, frozenset({"xss", "brand-new"}))
    assert [(row.key, row.status) for row in lock_view.rows()] == [
        ("brand-new", "not_run"),
        ("xss", "failed"),
    ]


def test_load_view_replays_the_journal(tmp_path: Path) -> None:
    path = write_lock(tmp_path)
    journal = lockfile.journal_path(path)
    from runner.lock import journal as journal_io

    journal.write_bytes(journal_io.encode({"job": "slow", "set": {"status": "failed"}}))
    lock_view = load_view("manifests/demo.yaml", path)
    assert lock_view.manifest == "manifests/demo.yaml"
    assert lock_view.lockfile == path
    assert lock_view.selected is None
    assert lock_view.data["jobs"]["slow"]["status"] == "failed"


def test_sample_lockfile_matches_the_schema(tmp_path: Path) -> None:
    from tests.factory import validate_lockfile

    write_lock(tmp_path)
    validate_lockfile(tmp_path / "demo.lock.json")


# --- render_html ----------------------------------------------------------------------


def test_user_text_is_escaped(tmp_path: Path) -> None:
    html = render_html([view(tmp_path)], tmp_path)
    assert html.count("<script") == 1  # the page's own, inline
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &quot;quotes&quot;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    page = parse(html)
    assert XSS_PROMPT in page.text
    assert page.attrs("img") == []
    assert " ".join(page.text).count(XSS_ERROR) == 1


def test_videos_are_relative_to_the_report_folder(tmp_path: Path) -> None:
    lock_view = view(tmp_path)
    beside = parse(render_html([lock_view], tmp_path))
    below = parse(render_html([lock_view], tmp_path / "site" / "pages"))
    assert [a["src"] for a in beside.attrs("video")] == [
        "renders/cat-garden.mp4",
        "renders/spin%20a.mp4",
        "renders/spin%20a-1.mp4",
    ]
    assert [a["src"] for a in below.attrs("video")] == [
        "../../renders/cat-garden.mp4",
        "../../renders/spin%20a.mp4",
        "../../renders/spin%20a-1.mp4",
    ]
    assert all("controls" in a for a in beside.attrs("video"))


def test_page_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    page = parse(render_html([view(tmp_path)], tmp_path))
    assert page.attrs("link") == []
    assert page.attrs("img") == []
    assert page.attrs("script") == [{}]
    assert page.attrs("a") == []


def test_content_security_policy_pins_the_inline_style_and_script(tmp_path: Path) -> None:
    page = parse(render_html([view(tmp_path)], tmp_path))
    (meta,) = [a for a in page.attrs("meta") if a.get("http-equiv") == "Content-Security-Policy"]

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert meta["content"] == (
        f"default-src 'none'; style-src 'sha256-{digest(STYLE)}'; "
        f"script-src 'sha256-{digest(SCRIPT)}'; media-src 'self' file:; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'"
    )


def test_header_counts_and_filters(tmp_path: Path) -> None:
    html = render_html([view(tmp_path)], tmp_path)
    assert '<span class="total"><b>6</b> jobs</span>' in html
    chips = re.findall(r'data-filter-status="([a-z_]+)"><b>(\d+)</b> ([a-z ]+)</button>', html)
    assert chips == [
        ("completed", "2", "completed"),
        ("failed", "1", "failed"),
        ("timed_out", "1", "timed out"),
        ("uncertain", "1", "uncertain"),
        ("processing", "1", "processing"),
    ]
    options = re.findall(r'<option value="([^"]*)">', html)
    assert options == [
        *["", "completed", "failed", "timed_out", "uncertain", "processing"],
        *["", "kling-v2.6-pro", "sora-2", "veo3.1-fast"],
        *["", "priced", "unpriced"],  # the estimate filter
    ]
    statuses = [a["data-status"] for a in parse(html).attrs("article")]
    assert statuses == ["completed", "timed_out", "uncertain", "processing", "completed", "failed"]


def test_card_shows_the_job_facts(tmp_path: Path) -> None:
    html = render_html([view(tmp_path)], tmp_path)
    cat = card(html, "cat-garden")
    assert '<span class="badge s-completed">completed</span>' in cat
    assert '<p class="prompt">A cat walking through a garden</p>' in cat
    assert (
        "<dl><dt>model</dt><dd>kling-v2.6-pro</dd><dt>operation</dt><dd>text-to-video</dd>"
        "<dt>seed</dt><dd>42</dd><dt>duration</dt><dd>5 s</dd><dt>resolution</dt><dd>720p</dd>"
        "<dt>aspect ratio</dt><dd>16:9</dd><dt>time taken</dt><dd>1m 15s</dd>"
        "<dt>attempts</dt><dd>1</dd><dt>task</dt><dd>task-1</dd></dl>"
    ) in cat
    assert "<figcaption>renders/cat-garden.mp4 · 64×36 · 1 s · 2.0 KB</figcaption>" in cat
    spin = card(html, "spin[model=veo3.1-fast,seed=1]")
    assert "<dt>time taken</dt><dd>42.5s</dd>" in spin
    assert spin.count("<video ") == 2


def test_failed_and_uncertain_cards_show_the_error(tmp_path: Path) -> None:
    html = render_html([view(tmp_path)], tmp_path)
    xss = card(html, "xss")
    assert xss.startswith('<article class="card failure" data-status="failed"')
    assert (
        '<p class="error"><b>400 invalid_request_error content_policy</b> '
        "Content policy: &lt;img src=x onerror=alert(1)&gt; blocked | see docs</p>"
    ) in xss
    lost = card(html, "lost")
    assert '<p class="error">no answer to the create request (read timeout)<br>' in lost
    assert "--resubmit-uncertain" in lost
    assert '<p class="error">' not in card(html, "slow")
    assert '<p class="error">' not in card(html, "late")  # timed out without an API error


def test_outputs_not_downloaded_link_only_to_web_urls(tmp_path: Path) -> None:
    document = lock_document()
    outputs = document["jobs"]["cat-garden"]["outputs"]
    outputs[0]["path"] = None
    outputs.append({"url": "javascript:alert(1)", "path": None})
    lock_view = LockView("m.yaml", tmp_path / "m.lock.json", document, frozenset({"cat-garden"}))
    html = render_html([lock_view], tmp_path)
    assert "<video" not in html
    assert (
        '<p class="missing">Not downloaded (<a href="https://cdn.example.com/renders/'
        'cat-garden.mp4" rel="noreferrer">remote URL</a>). 64×36 · 1 s · 2.0 KB</p>'
    ) in html
    assert '<p class="missing">Not downloaded (no URL). </p>' in html
    assert "javascript:" not in html


def test_not_run_jobs_and_empty_lockfiles(tmp_path: Path) -> None:
    fresh = LockView("new.yaml", tmp_path / "new.lock.json", lockfile.empty(), frozenset({"a"}))
    empty = LockView("old.yaml", tmp_path / "old.lock.json", lockfile.empty(), None)
    html = render_html([fresh, empty], tmp_path)
    assert '<span class="badge s-not_run">not run</span>' in card(html, "a")
    assert '<p class="prompt"><i>no prompt</i></p>' in card(html, "a")
    assert '<p class="empty">No jobs in this lockfile.</p>' in html
    assert "<title>vidbatch report: new.yaml, old.yaml</title>" in html


def test_render_is_deterministic(tmp_path: Path) -> None:
    lock_view = view(tmp_path)
    assert render_html([lock_view], tmp_path) == render_html([lock_view], tmp_path)


def test_default_path_is_beside_the_lockfile() -> None:
    assert default_path(Path("out/demo.lock.json"), Path("manifests/demo.yaml")) == Path(
        "out/demo.report.html"
    )


# --- the command ----------------------------------------------------------------------

MANIFEST = """\
version: 1
defaults: {model: kling-v2.6-pro, duration: 5}
jobs:
  - id: cat-garden
    prompt: A cat walking through a garden
    seed: 42
  - id: xss
    prompt: '<script>alert("pwned")</script>'
  - id: new-one
    prompt: Not run yet
"""


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), Context(environ=env or {}, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "manifests" / "demo.yaml"
    path.parent.mkdir()
    path.write_text(MANIFEST)
    write_lock(path.parent)
    return path


def test_report_command_writes_the_page_beside_the_lockfile(manifest: Path) -> None:
    code, out, err = run_cli("report", str(manifest), env={"HOME": str(manifest.parent)})
    page = manifest.parent / "demo.report.html"
    assert (code, err) == (0, "")
    assert out == f"wrote {page} (3 jobs: 1 completed, 1 failed, 1 not run)\n"
    statuses = [a["data-status"] for a in parse(page.read_text()).attrs("article")]
    assert statuses == ["completed", "not_run", "failed"]


def test_report_command_output_option(manifest: Path, tmp_path: Path) -> None:
    target = tmp_path / "public" / "index.html"
    code, out, _ = run_cli("report", str(manifest), "-o", str(target))
    assert code == 0
    assert out.startswith(f"wrote {target} (3 jobs")
    srcs = [a["src"] for a in parse(target.read_text()).attrs("video")]
    assert srcs == ["../manifests/renders/cat-garden.mp4"]


def test_report_command_to_stdout_and_other_lockfile(manifest: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.lock.json"
    other.write_text(json.dumps({"version": 1, "jobs": {}}))
    code, out, _ = run_cli("report", str(manifest), "--lockfile", str(other), "-o", "-")
    assert code == 0
    assert out.startswith("<!DOCTYPE html>")
    assert [a["data-status"] for a in parse(out).attrs("article")] == ["not_run"] * 3


def test_report_command_refuses_one_lockfile_for_two_manifests(manifest: Path) -> None:
    code, out, err = run_cli("report", str(manifest), str(manifest), "--lockfile", "x.json")
    assert (code, out) == (2, "")
    assert err == (
        "vidbatch: error: --lockfile names the lockfile of one manifest; give only one\n"
    )


def test_report_command_rejects_an_invalid_manifest(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2\njobs: []\n")
    code, out, err = run_cli("report", str(bad))
    assert (code, out) == (2, "")
    assert err.endswith("nothing was submitted\n")
    assert not (tmp_path / "bad.report.html").exists()


def test_several_manifests_link_videos_from_their_own_folders(tmp_path: Path) -> None:
    first, second = view(tmp_path / "a"), view(tmp_path / "b" / "deep")
    page = parse(render_html([first, second], tmp_path))
    assert [a["src"] for a in page.attrs("video")] == [
        "a/renders/cat-garden.mp4",
        "a/renders/spin%20a.mp4",
        "a/renders/spin%20a-1.mp4",
        "b/deep/renders/cat-garden.mp4",
        "b/deep/renders/spin%20a.mp4",
        "b/deep/renders/spin%20a-1.mp4",
    ]
    assert [a["class"] for a in page.attrs("section")] == ["manifest", "manifest"]


@settings(max_examples=200, deadline=None)
@given(prompt=st.text(), key=st.text(min_size=1))
def test_any_text_round_trips_as_text(prompt: str, key: str) -> None:
    entry = lock_document()["jobs"]["xss"]
    entry["request"]["prompt"] = prompt
    document = {"version": 1, "jobs": {key: entry}}
    html = render_html([LockView(key, Path("x.lock.json"), document, None)], Path("."))
    (shown,) = re.findall(r'<p class="prompt">(.*?)</p>\n', html, re.S) or [""]
    assert unescape(shown) == prompt or (prompt == "" and shown == "<i>no prompt</i>")
    assert html.count("<script") == 1
    assert html.count("</article>") == 1
