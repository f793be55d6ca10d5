"""What the provider asks clients to keep: request ids, billing transactions and the
gateway's task id header, recorded in the lockfile and shown in the report."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from runner.api import responses
from runner.lock import lockentry
from tests.factory import validate_lockfile
from tests.hostile import HostileServer, Reply, hostile_server  # noqa: F401
from tests.netguard import no_network  # noqa: F401
from tests.test_hostile_answers import KEY, run, write
from tests.test_run_cli import Cli

HEADERS = {
    "X-Request-ID": "req_abc123",
    "X-Billing-Transaction-ID": "btx_header",
    "X-Task-ID": "task-0001",
}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli({"HOME": "/nonexistent", "LEMONDATA_API_KEY": KEY})


def test_a_create_answer_gives_its_receipt_body_first() -> None:
    body = {"task_id": "t1", "billing_transaction_id": "btx_body"}
    created = responses.created(body, httpx.Headers(HEADERS))
    assert created is not None
    assert dict(created.receipt) == {
        "request_id": "req_abc123",
        "billing_transaction_id": "btx_body",
        "header_task_id": "task-0001",
    }


def test_unusable_receipt_values_are_left_out() -> None:
    headers = {"X-Request-ID": "bad id\r\nwith a break", "X-Task-ID": "x" * 500}
    body = {"task_id": "t1", "billing_transaction_id": 1.5}
    created = responses.created(body, httpx.Headers(headers))
    assert created is not None and dict(created.receipt) == {}


def test_an_error_keeps_its_request_id_from_the_body_or_the_header() -> None:
    body = {"error": {"message": "bad", "request_id": "req_body"}}
    assert responses.api_error(400, body, httpx.Headers(HEADERS))["request_id"] == "req_body"
    assert (
        responses.api_error(400, {"error": "bad"}, httpx.Headers(HEADERS))["request_id"]
        == "req_abc123"
    )
    assert "request_id" not in responses.api_error(400, {"error": "bad"}, {})


def test_a_request_id_is_always_kept_as_a_string() -> None:
    # a number would not match the lockfile's schema, nor load back unrepaired
    assert (
        responses.api_error(400, {"error": {"message": "x", "request_id": 42}})["request_id"]
        == "42"
    )
    failed = {"status": "failed", "error": {"message": "x", "request_id": "req_t"}}
    state = responses.task_state(failed)
    assert state is not None and state.error is not None
    assert state.error["request_id"] == "req_t"


def test_a_poll_names_the_billing_transaction() -> None:
    state = responses.task_state({"status": "failed", "billing_transaction_id": "btx_9"})
    assert state is not None and state.billing_transaction_id == "btx_9"


def test_an_invalid_receipt_in_an_old_lockfile_is_dropped() -> None:
    entry = {
        "fingerprint": "sha256:" + "0" * 64,
        "request": {},
        "seed": None,
        "status": "completed",
        "attempts": 1,
        "outputs": [],
        "request_id": "line\nbreak",
        "billing_transaction_id": 7,
    }
    jobs = {"a": entry}
    assert lockentry.repair(jobs) == [
        "a: invalid request_id, billing_transaction_id in the lockfile, ignored"
    ]
    assert entry["request_id"] is None and entry["billing_transaction_id"] is None


def test_a_run_records_the_receipt_and_the_report_shows_it(
    tmp_path: Path, cli: Cli, hostile: HostileServer
) -> None:
    answer = {"id": "task-0001", "task_id": "task-0001", "poll_url": "/v1/tasks/task-0001"}
    hostile.tasks.append("task-0001")
    hostile.script("POST", "/v1/videos/generations", Reply(json=answer, headers=HEADERS))
    done = hostile.task_answer("task-0001") | {"billing_transaction_id": "btx_final"}
    hostile.script("GET", "/v1/tasks/", Reply(json=done))
    manifest = write(tmp_path, ["a cat"])
    assert run(cli, hostile, manifest) == 0, cli.err
    entry = validate_lockfile(tmp_path / "shots.lock.json")["jobs"]["job0"]
    assert entry["request_id"] == "req_abc123"
    assert entry["header_task_id"] == "task-0001"
    assert entry["billing_transaction_id"] == "btx_final"  # the task's own word wins
    assert cli("report", str(manifest), "-o", str(tmp_path / "r.html")) == 0, cli.err
    page = (tmp_path / "r.html").read_text("utf-8")
    assert "req_abc123" in page and "btx_final" in page


def test_a_refused_create_keeps_the_request_id(
    tmp_path: Path, cli: Cli, hostile: HostileServer
) -> None:
    refused = {"error": {"message": "bad prompt", "type": "invalid_request_error"}}
    hostile.script("POST", "/v1/videos/generations", Reply(400, json=refused, headers=HEADERS))
    manifest = write(tmp_path, ["a cat"])
    assert run(cli, hostile, manifest) == 1
    entry = validate_lockfile(tmp_path / "shots.lock.json")["jobs"]["job0"]
    assert entry["status"] == "failed"
    assert entry["error"]["request_id"] == "req_abc123"


def test_the_sandbox_names_each_task_s_billing_transaction(tmp_path: Path, cli: Cli) -> None:
    manifest = write(tmp_path, ["a cat"], name="sb")
    assert cli("run", str(manifest), "--sandbox", "--no-download", "--yes") == 0, cli.err
    entry = validate_lockfile(tmp_path / "sb.lock.json")["jobs"]["job0"]
    assert entry["billing_transaction_id"].startswith("btx_")
