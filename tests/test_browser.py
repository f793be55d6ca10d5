"""The HTML report in a real headless Chromium: it loads without console errors, shows
one playable <video> per output, and its filters work offline.

Chromium is driven over the Chrome DevTools Protocol through ``--remote-debugging-pipe``
(JSON messages ending in NUL on file descriptors 3 and 4), so nothing beyond the
browser itself is needed and no port is opened. Without /usr/bin/chromium the tests
skip, unless VIDBATCH_REQUIRE_BROWSER=1 makes that a failure (as .ci/run does).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.review.report import render_html
from tests.netguard import no_network  # noqa: F401
from tests.reportfixtures import XSS_PROMPT, make_outputs, view

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--remote-debugging-pipe",
)
# Only a guard against a hung browser; no assertion depends on how long anything takes.
PROTOCOL_TIMEOUT = 60.0


class Browser:
    """A headless Chromium and a minimal CDP client over its debugging pipe."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_child, self._out = _pipe()
        self._in, from_child = _pipe()

        def wire_fds() -> None:  # the pipe protocol wants the browser's fds 3 and 4
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=wire_fds,  # safe here: the test process runs no other threads
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise AssertionError(f"{method} failed: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        seen = len(self.events)
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method:
                    return event
            seen = len(self.events)
            self.events.append(self._receive())

    def open(self, url: str) -> str:
        """A new page at ``url``, loaded; returns its session id."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session)
        self.events.clear()
        self.call("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired")
        return str(session)

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate",
            session,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, failed loads and dialogs seen so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(f"console.{params['type']}: {params['args']}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails']}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"log: {params['entry']['text']}")
            elif method == "Page.javascriptDialogOpening":
                found.append(f"dialog: {params['message']}")
        return found

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, AssertionError):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._in)
        os.close(self._out)

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + PROTOCOL_TIMEOUT
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError("Chromium did not answer over the debugging pipe")
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise EOFError("Chromium closed the debugging pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        reply: dict[str, Any] = json.loads(message)
        return reply


def _pipe() -> tuple[int, int]:
    # Above fd 10, so that wiring the child's fds 3 and 4 cannot overwrite them.
    read_end, write_end = os.pipe()
    moved = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (read_end, write_end))
    os.close(read_end)
    os.close(write_end)
    return moved[0], moved[1]


def chromium_binary() -> str:
    """The browser to test with; skip (or fail under VIDBATCH_REQUIRE_BROWSER=1) without one."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("VIDBATCH_REQUIRE_BROWSER") == "1":
        pytest.fail(
            f"{CHROMIUM} is missing and VIDBATCH_REQUIRE_BROWSER=1 (run .ci/install-browser)"
        )
    pytest.skip(f"{CHROMIUM} is not installed (.ci/install-browser installs it)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium = Browser(chromium_binary(), tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def report_url(tmp_path: Path) -> str:
    """The sample report written in a sub-folder of the lockfile's, outputs encoded."""
    lock_view = view(tmp_path)
    make_outputs(tmp_path)
    page = tmp_path / "site" / "demo.report.html"
    page.parent.mkdir()
    page.write_text(render_html([lock_view], page.parent), "utf-8")
    return page.as_uri()


VIDEO_STATE = """
new Promise(function (resolve) {
  var videos = Array.prototype.slice.call(document.querySelectorAll("video"));
  function settled(v) { return v.error !== null || v.readyState >= 1; }
  (function check() {
    if (videos.every(settled)) {
      resolve(videos.map(function (v) {
        return {src: v.getAttribute("src"), ready: v.readyState >= 1, duration: v.duration,
                width: v.videoWidth, error: v.error && v.error.code};
      }));
    } else { setTimeout(check, 25); }
  })();
})
"""

VISIBLE = """
Array.prototype.filter.call(document.querySelectorAll(".card"), function (c) {
  return !c.hidden && c.offsetParent !== null;
}).map(function (c) { return c.querySelector(".key").textContent; })
"""


def test_report_loads_cleanly_and_every_video_plays(browser: Browser, report_url: str) -> None:
    session = browser.open(report_url)
    videos = browser.evaluate(session, VIDEO_STATE)
    assert [v["src"] for v in videos] == [
        "../renders/cat-garden.mp4",
        "../renders/spin%20a.mp4",
        "../renders/spin%20a-1.mp4",
    ]
    for video in videos:
        assert video["error"] is None
        assert video["ready"] is True
        assert video["width"] == 64
        assert video["duration"] == pytest.approx(1.0, abs=0.1)
    assert browser.evaluate(session, "document.querySelectorAll('.card').length") == 6
    assert browser.problems() == []


def test_hostile_prompt_is_text_not_markup(browser: Browser, report_url: str) -> None:
    session = browser.open(report_url)
    prompts = browser.evaluate(
        session,
        "Array.prototype.map.call(document.querySelectorAll('.prompt'), "
        "function (p) { return p.textContent; })",
    )
    assert XSS_PROMPT in prompts
    assert browser.evaluate(session, "document.scripts.length") == 1
    assert browser.evaluate(session, "document.querySelectorAll('.error img').length") == 0
    assert browser.problems() == []


def test_filters_work_offline(browser: Browser, report_url: str) -> None:
    session = browser.open(report_url)
    assert len(browser.evaluate(session, VISIBLE)) == 6
    choose = (
        "(function (id, value) { var s = document.getElementById(id); s.value = value;"
        " s.dispatchEvent(new Event('change')); })"
    )
    browser.evaluate(session, f"{choose}('f-status', 'failed')")
    assert browser.evaluate(session, VISIBLE) == ["xss"]
    assert browser.evaluate(session, "document.getElementById('shown').textContent") == "1"
    browser.evaluate(session, f"{choose}('f-status', '')")
    browser.evaluate(session, f"{choose}('f-model', 'sora-2')")
    assert browser.evaluate(session, VISIBLE) == ["slow"]
    browser.evaluate(session, f"{choose}('f-model', '')")
    browser.evaluate(session, "document.querySelector('[data-filter-status=completed]').click()")
    assert browser.evaluate(session, VISIBLE) == ["cat-garden", "spin[model=veo3.1-fast,seed=1]"]
    search = "document.getElementById('f-text')"
    browser.evaluate(
        session, f"{search}.value = 'TURNTABLE'; {search}.dispatchEvent(new Event('input'))"
    )
    assert browser.evaluate(session, VISIBLE) == ["spin[model=veo3.1-fast,seed=1]"]
    assert browser.problems() == []


def test_missing_browser_skips_or_fails_as_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("VIDBATCH_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception):
        chromium_binary()
    monkeypatch.setenv("VIDBATCH_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="VIDBATCH_REQUIRE_BROWSER=1"):
        chromium_binary()


def test_missing_output_files_are_seen_as_problems(browser: Browser, tmp_path: Path) -> None:
    # The clean-page assertions above can fail: without the MP4s the same page errs.
    page = tmp_path / "demo.report.html"
    page.write_text(render_html([view(tmp_path)], tmp_path), "utf-8")
    session = browser.open(page.as_uri())
    videos = browser.evaluate(session, VIDEO_STATE)
    assert [v["error"] for v in videos] == [4, 4, 4]  # MEDIA_ERR_SRC_NOT_SUPPORTED
    assert browser.problems() == ["log: Failed to load resource: net::ERR_FILE_NOT_FOUND"] * 3


E2E_MANIFEST = """\
version: 1
defaults: {model: kling-v2.6-pro, duration: 5}
output: {dir: renders}
jobs:
  - id: cat
    prompt: A cat in a garden
    seed: 1
  - id: dog
    prompt: A dog on a beach
    model: veo3.1-fast
    seed: 2
"""


@pytest.mark.slow
def test_report_of_a_sandbox_run_plays_its_outputs(browser: Browser, tmp_path: Path) -> None:
    import io
    import xml.etree.ElementTree as ET

    from runner.cli import Context, main

    manifest = tmp_path / "demo.yaml"
    manifest.write_text(E2E_MANIFEST)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}

    def vidbatch(*args: str) -> int:
        return main(list(args), Context(environ=env, stdout=io.StringIO(), stderr=io.StringIO()))

    junit, summary = tmp_path / "junit.xml", tmp_path / "summary.md"
    run = ("run", "--sandbox", "--yes", str(manifest), "--junit", str(junit))
    assert vidbatch(*run, "--summary", str(summary)) == 0
    assert vidbatch("report", str(manifest), "-o", str(tmp_path / "site" / "index.html")) == 0
    suite = ET.fromstring(junit.read_text("utf-8"))
    assert (suite.attrib["tests"], suite.attrib["failures"]) == ("2", "0")
    assert summary.read_text("utf-8").startswith("## vidbatch: all 2 jobs completed\n")

    session = browser.open((tmp_path / "site" / "index.html").as_uri())
    videos = browser.evaluate(session, VIDEO_STATE)
    assert [v["src"] for v in videos] == ["../renders/cat.mp4", "../renders/dog.mp4"]
    assert all(v["ready"] and v["duration"] > 0 and v["error"] is None for v in videos)
    assert browser.problems() == []
