"""The sandbox served by uvicorn on a loopback port, and ``vidbatch sandbox``."""

from __future__ import annotations

import io
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import httpx
import pytest

from runner.cli import Context, main
from runner.sandbox import Sandbox, background
from tests.netguard import no_network  # noqa: F401
from tests.test_sandbox import CREATE, Clock, make

pytestmark = pytest.mark.slow

BODY = {"model": "kling-v2.6-pro", "prompt": "a fox", "seed": 3, "aspect_ratio": "9:16"}


@contextmanager
def served(sandbox: Sandbox, key: str = "sk-test") -> Iterator[httpx.Client]:
    with (
        background(sandbox) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10
        ) as client,
    ):
        yield client


def test_life_cycle_and_download_over_real_http() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(10, 10))
    with served(sandbox) as client:
        created = client.post(CREATE, json=BODY).json()
        pending = client.get(created["poll_url"]).json()
        clock.advance(5)
        processing = client.get(created["poll_url"]).json()
        clock.advance(5)
        done = client.get(created["poll_url"]).json()
        assert done["video_url"].startswith(str(client.base_url).rstrip("/") + "/files/")
        video = client.get(done["video_url"], headers={"Authorization": ""})
        record = client.get("/_sandbox/record").json()
    assert (pending["status"], processing["status"], done["status"]) == (
        "pending",
        "processing",
        "completed",
    )
    assert video.status_code == 200
    with av.open(io.BytesIO(video.content)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (108, 192)
    assert record["counters"]["tasks_made"] == 1
    assert record["tasks"][0]["polls"] == 3


def test_a_drop_after_create_closes_the_connection_without_an_answer() -> None:
    sandbox = make(Clock(), create_drop_after=1.0)
    with served(sandbox) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(CREATE, json=BODY)
        models = client.get("/v1/models")
    assert models.status_code == 200
    assert sandbox.counters.tasks_made == 1
    assert sandbox.counters.statuses == {"dropped": 1, "200": 1}


def test_a_dropped_poll_over_real_http() -> None:
    sandbox = make(Clock(), poll_drop=1.0)
    with served(sandbox) as client:
        created = client.post(CREATE, json=BODY).json()
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(created["poll_url"])
    assert sandbox.counters.drops == {"poll": 1}


def test_rate_limit_header_over_real_http() -> None:
    sandbox = make(Clock(), rate_limit=1.0)
    with served(sandbox) as client:
        client.get("/v1/models")
        limited = client.get("/v1/models")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"


def test_sandbox_command_serves_and_prints_its_url(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"task_seconds": [1, 1], "fail_prompt_marker": "FAIL"}))
    command = [sys.executable, "-m", "runner", "sandbox", "--port", "0", "--faults", str(faults)]
    process = subprocess.Popen(
        [*command, "--require-key", "sk-right"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url, timeout=10) as client:
            wrong = client.get("/v1/models", headers={"Authorization": "Bearer sk-wrong"})
            right = client.get("/v1/models", headers={"Authorization": "Bearer sk-right"})
        assert (wrong.status_code, right.status_code) == (401, 200)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    assert f"serving on {url}" in stderr


def run_cli(*args: str) -> tuple[int, str]:
    stderr = io.StringIO()
    code = main(["sandbox", *args], Context(environ={}, stdout=io.StringIO(), stderr=stderr))
    return code, stderr.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not valid JSON"),
        ("[]", "must hold a JSON object of sandbox settings"),
        ('{"sped": 2}', "unknown sandbox setting 'sped' (did you mean 'speed'?)"),
    ],
)
def test_sandbox_command_refuses_bad_fault_files(
    tmp_path: Path, content: str, message: str
) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text(content)
    code, stderr = run_cli("--port", "0", "--faults", str(faults))
    assert code == 2
    assert message in stderr


def test_sandbox_command_refuses_a_bad_port_and_a_missing_file(tmp_path: Path) -> None:
    assert run_cli("--port", "70000")[0] == 2
    code, stderr = run_cli("--faults", str(tmp_path / "missing.json"))
    assert code == 2
    assert "cannot read" in stderr


def test_sandbox_command_reports_a_port_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, stderr = run_cli("--port", str(port))
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in stderr
