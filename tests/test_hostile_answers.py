"""Hostile and odd API answers, end to end through ``vidbatch run`` on a loopback server.

Nothing a server sends may leak the key, crash the run, poison the lockfile,
mix up two jobs' tasks, fail a job on one transient answer, or stall silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.lock import journal
from tests.factory import validate_lockfile
from tests.hostile import HostileServer, Reply, hostile_server  # noqa: F401
from tests.netguard import no_network  # noqa: F401
from tests.test_run_cli import Cli, write_manifest

KEY = "sk-hostile-0123456789abcdef"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hostile: HostileServer) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli({"HOME": "/nonexistent", "LEMONDATA_API_KEY": KEY})


def run(cli: Cli, hostile: HostileServer, manifest: Path, *flags: str) -> int:
    """``vidbatch run`` against the hostile server; outputs are not fetched (the
    answers are the point here, and downloads have tests of their own)."""
    return cli("run", str(manifest), "--base-url", hostile.url, "--no-download", *flags)


def lock(tmp_path: Path, name: str = "shots") -> dict[str, Any]:
    doc: dict[str, Any] = validate_lockfile(tmp_path / f"{name}.lock.json")
    return doc


def test_a_plain_server_completes_the_run(tmp_path: Path, cli: Cli, hostile: HostileServer) -> None:
    manifest = write_manifest(tmp_path, 2)
    assert run(cli, hostile, manifest) == 0, cli.err
    jobs = lock(tmp_path)["jobs"]
    assert sorted(e["task_id"] for e in jobs.values()) == ["task-0001", "task-0002"]
    assert all(s.headers["authorization"] == f"Bearer {KEY}" for s in hostile.seen(path="/v1/"))
    assert json.dumps(jobs).count(KEY) == 0


def write(folder: Path, prompts: list[str], run: str = "", name: str = "shots") -> Path:
    """A manifest with one job per prompt: ids job0, job1, ..."""
    jobs = "\n".join(f"  - id: job{i}\n    prompt: {json.dumps(p)}" for i, p in enumerate(prompts))
    settings = run or "concurrency: 8, rate: 100, timeout: 30s, poll: {initial: 20ms, max: 100ms}"
    path = folder / f"{name}.yaml"
    path.write_text(
        "version: 1\n"
        "defaults: {model: kling-v2.6-pro, duration: 5}\n"
        f"run: {{{settings}}}\n"
        "output: {dir: renders, name: '${job}.mp4'}\n"
        f"jobs:\n{jobs}\n"
    )
    return path


class ByPrompt:
    """Routes each create to the scenario named by its prompt, and each poll of the
    task it made to the same scenario: ``{prompt: (create answer, poll answers)}``."""

    def __init__(self, hostile: HostileServer, scenarios: dict[str, Any]) -> None:
        self.hostile = hostile
        self.scenarios = scenarios
        self.tasks: dict[str, str] = {}  # task id -> prompt
        self.polls: dict[str, int] = {}
        hostile.handler = self

    def __call__(self, seen: Any) -> Any:
        if seen.method == "POST":
            prompt = seen.json()["prompt"]
            create = self.scenarios[prompt][0]
            if create is None:
                return None
            answer = create.json if isinstance(create, Reply) else None
            task_id = answer.get("task_id") if isinstance(answer, dict) else None
            if isinstance(task_id, str):
                self.tasks[task_id] = prompt
            return create
        if seen.method == "GET" and seen.path.startswith("/v1/tasks/"):
            task_id = seen.path.rsplit("/", 1)[1]
            prompt = self.tasks.get(task_id)
            if prompt is None:
                return None
            polls = self.scenarios[prompt][1]
            count = self.polls[task_id] = self.polls.get(task_id, 0) + 1
            return polls[min(count, len(polls)) - 1]
        return None


def created(task_id: Any, **fields: Any) -> Reply:
    return Reply(json={"id": task_id, "task_id": task_id, "status": "pending", **fields})


def strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in a lockfile")

    return json.loads(text, parse_constant=refuse)


def no_traceback(cli: Cli) -> None:
    assert "Traceback" not in cli.err and "internal error" not in cli.err, cli.err


# -- 1. the key never leaks --------------------------------------------------------------


def test_the_key_never_leaks_into_anything_stored_or_printed(
    tmp_path: Path, cli: Cli, hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bearer = f"Bearer {KEY}"
    journal_lines: list[bytes] = []  # the journal is folded into the lockfile at the end
    encode = journal.encode
    monkeypatch.setattr(journal, "encode", lambda r: journal_lines.append(encode(r)) or encode(r))
    ByPrompt(
        hostile,
        {
            "refused": (
                Reply(
                    400,
                    json={
                        "error": {
                            "message": f"invalid request from {KEY}",
                            "type": f"t-{KEY}",
                            "code": KEY,
                            "param": bearer,
                            "hint": f"try without {bearer}",
                        },
                        "validation_errors": [{"field": "prompt", "message": f"{bearer} bad"}],
                    },
                ),
                [],
            ),
            "failed": (
                created("t-failed"),
                [
                    Reply(
                        json={
                            "status": "failed",
                            "error": {"message": f"saw {bearer}", "code": KEY},
                        }
                    )
                ],
            ),
            "failed-text": (
                created("t-text"),
                [Reply(json={"status": "failed", "error": f"upstream said {KEY}"})],
            ),
            "signed-url": (
                created("t-url"),
                [
                    Reply(
                        json=hostile.task_answer(
                            "t-url", video_url=f"{hostile.url}/files/t.mp4?k={KEY}"
                        )
                    )
                ],
            ),
        },
    )
    manifest = write(tmp_path, ["refused", "failed", "failed-text", "signed-url"])
    step = tmp_path / "step.md"
    cli.environ["GITHUB_STEP_SUMMARY"] = str(step)
    code = run(cli, hostile, manifest, "--json", "--junit", "junit.xml", "--summary", "s.md")
    no_traceback(cli)
    assert code == 1
    shown = [cli.out, cli.err]
    assert cli("status", str(manifest)) == 0
    shown += [cli.out, cli.err]
    assert cli("report", str(manifest), "-o", "report.html") == 0, cli.err
    shown += [cli.out, cli.err]
    files = ["shots.lock.json", "junit.xml", "s.md", "step.md", "report.html"]
    shown += [(tmp_path / name).read_text() for name in files]
    assert len(journal_lines) > 8
    shown.append(b"".join(journal_lines).decode())
    leaks = [text for text in shown if KEY in text]
    assert leaks == []
    jobs = lock(tmp_path)["jobs"]
    assert jobs["job0"]["error"]["message"] == "invalid request from [redacted]"
    assert jobs["job0"]["error"]["param"] == "Bearer [redacted]"
    assert jobs["job2"]["error"]["message"] == "upstream said [redacted]"
    assert jobs["job3"]["status"] == "completed"
    assert jobs["job3"]["outputs"][0]["url"].endswith("?k=[redacted]")


def test_control_characters_from_the_api_never_reach_the_terminal(
    tmp_path: Path, cli: Cli, hostile: HostileServer
) -> None:
    message = "\x1b[2J\x1b]0;pwned\x07red \x1b[31malert\x1b[0m\rover\x08"
    ByPrompt(
        hostile, {"ansi": (created("t-ansi"), [Reply(json={"status": "failed", "error": message})])}
    )
    manifest = write(tmp_path, ["ansi"])
    assert run(cli, hostile, manifest) == 1
    no_traceback(cli)
    assert "red alert" in cli.err or "red alert" in cli.err.replace("  ", " ")
    assert not any(c in cli.err for c in "\x1b\x07\r\x08")
    assert cli("status", str(manifest)) == 0
    assert "\x1b" not in cli.out and "red" in cli.out
    assert lock(tmp_path)["jobs"]["job0"]["error"]["message"] == message  # kept as the API said


# -- 2. no value crashes the run or poisons the lockfile --------------------------------


def test_hostile_values_fail_one_job_at_most_and_never_reach_the_lockfile(
    tmp_path: Path, cli: Cli, hostile: HostileServer
) -> None:
    def done(task_id: str) -> Reply:
        return Reply(json=hostile.task_answer(task_id))

    url = f"{hostile.url}/files/t-num.mp4"
    busy = Reply(json={"status": "processing"})  # between unreadable answers: short backoffs
    huge = "9" * 5000
    ByPrompt(
        hostile,
        {
            "crlf-poll-url": (
                created("t-crlf", poll_url="/v1/tasks/t-crlf\r\nX-Injected: 1"),
                [done("t-crlf")],
            ),
            "bad-host": (
                created("t-host", poll_url="http://-bad-..host:99999/v1/tasks/t"),
                [done("t-host")],
            ),
            "numbers": (
                created("t-num"),
                [
                    Reply(body='{"status": "processing", "progress": NaN}'),
                    Reply(body='{"status": "processing", "progress": 1e999}'),
                    Reply(json={"status": "processing", "progress": 250}),
                    Reply(body='{"status": "processing", "progress": ' + huge + "}"),
                    Reply(
                        body='{"status": "completed", "video": {"url": "' + url + '", '
                        '"width": 1e999, "height": "NaN", "duration": NaN}}'
                    ),
                ],
            ),
            "bad-output-url": (
                created("t-out"),
                [Reply(json={"status": "completed", "video_url": "http://cdn\r\n.example/x.mp4"})],
            ),
            "huge-id": (Reply(body='{"task_id": ' + huge + ', "status": "pending"}'), []),
            "ansi-id": (created("abc\x1b[2J\ndef"), []),
            "long-id": (created("x" * 5000), []),
            "wrong-types": (
                created("t-types"),
                [
                    Reply(json={"status": 5}),
                    busy,
                    Reply(json=[1, 2]),
                    busy,
                    Reply(json={"status": ["x"]}),
                    done("t-types"),
                ],
            ),
        },
    )
    prompts = [
        "crlf-poll-url",
        "bad-host",
        "numbers",
        "bad-output-url",
        "huge-id",
        "ansi-id",
        "long-id",
        "wrong-types",
    ]
    manifest = write(tmp_path, prompts)
    code = run(cli, hostile, manifest, "--json")
    no_traceback(cli)
    assert code == 1
    text = (tmp_path / "shots.lock.json").read_text()
    strict_json(text)
    jobs = lock(tmp_path)["jobs"]
    status = {prompts[int(k[3:])]: e["status"] for k, e in jobs.items()}
    assert status == {
        "crlf-poll-url": "completed",
        "bad-host": "completed",
        "numbers": "completed",
        "bad-output-url": "failed",
        "huge-id": "uncertain",
        "ansi-id": "uncertain",
        "long-id": "uncertain",
        "wrong-types": "completed",
    }
    assert jobs["job2"]["outputs"][0] | {"path": None, "sha256": None, "bytes": None} == {
        "url": url,
        "path": None,
        "sha256": None,
        "bytes": None,
        "width": None,
        "height": None,
        "duration": None,
    }
    assert "output URL" in jobs["job3"]["error"]["message"]
    assert all(jobs[f"job{i}"]["task_id"] is None for i in (4, 5, 6))
    assert all("no usable task id" in jobs[f"job{i}"]["error"]["message"] for i in (4, 5, 6))
    assert all("\r" not in s.path and "Injected" not in s.path for s in hostile.requests)
    progress = [json.loads(line) for line in cli.out.splitlines()]
    assert all(0 <= e["progress"] <= 100 for e in progress if e["event"] == "progress")


def test_a_lockfile_of_the_wrong_shape_still_loads_with_a_clear_message(
    tmp_path: Path, cli: Cli, hostile: HostileServer
) -> None:
    manifest = write(tmp_path, ["a", "b", "c", "d", "e"])
    assert run(cli, hostile, manifest) == 0, cli.err
    path = tmp_path / "shots.lock.json"
    doc = json.loads(path.read_text())
    jobs = doc["jobs"]
    jobs["job0"] = "not an entry"
    jobs["job1"].update(task_id="a\nb", status="processing")
    jobs["job2"]["outputs"][0]["width"] = float("nan")
    jobs["job2"]["attempts"] = "many"
    jobs["job3"].update(status="weird", request=[1], seed="x", outputs={"a": 1})
    path.write_text(json.dumps(doc).replace("NaN", "1" + "0" * 5000))
    journal = tmp_path / "shots.lock.json.journal"
    records = [{"job": "job4", "put": 5}, {"job": "job4", "set": [1]}, {"job": "job4", "drop": 1}]
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    for command in ("status", "plan", "report"):
        code = cli(command, str(manifest))
        no_traceback(cli)
        assert code in (0, 1), (command, cli.err)
    assert run(cli, hostile, manifest) == 1
    no_traceback(cli)
    assert "job1: invalid task_id" in cli.err
    assert "job0: the lockfile entry is not an object" in cli.err
    jobs = lock(tmp_path)["jobs"]
    assert jobs["job0"]["status"] == "completed"  # nothing was held there: submitted anew
    assert jobs["job1"]["status"] == "uncertain"
    assert "task_id" in jobs["job1"]["error"]["message"]
    assert jobs["job2"]["status"] == "completed" and jobs["job2"]["outputs"][0]["width"] is None
    assert jobs["job4"]["status"] == "completed"


# -- 3. two jobs' tasks are never mixed up ----------------------------------------------


def test_a_poll_answer_about_another_task_is_not_taken(
    tmp_path: Path, cli: Cli, hostile: HostileServer
) -> None:
    other = Reply(json=hostile.task_answer("t-b"))
    ByPrompt(
        hostile,
        {
            "a": (created("t-a"), [other, Reply(json=hostile.task_answer("t-a"))]),
            "b": (created("t-b"), [Reply(json={"status": "processing"}), other]),
        },
    )
    manifest = write(tmp_path, ["a", "b"])
    assert run(cli, hostile, manifest) == 0, cli.err
    jobs = lock(tmp_path)["jobs"]
    assert jobs["job0"]["outputs"][0]["url"].endswith("/files/t-a.mp4")
    assert jobs["job1"]["outputs"][0]["url"].endswith("/files/t-b.mp4")


def test_a_create_answer_naming_a_task_another_job_holds_loses_neither(
    tmp_path: Path, cli: Cli, hostile: HostileServer
) -> None:
    ByPrompt(
        hostile,
        {
            "first": (created("t-same"), [Reply(json=hostile.task_answer("t-same"))]),
            "second": (created("t-same"), [Reply(json=hostile.task_answer("t-same"))]),
        },
    )
    one_at_a_time = "concurrency: 1, rate: 100, timeout: 30s, poll: {initial: 20ms}"
    manifest = write(tmp_path, ["first", "second"], one_at_a_time)
    assert run(cli, hostile, manifest) == 1
    no_traceback(cli)
    jobs = lock(tmp_path)["jobs"]
    assert (jobs["job0"]["status"], jobs["job0"]["task_id"]) == ("completed", "t-same")
    assert jobs["job1"]["status"] == "uncertain"
    assert jobs["job1"]["task_id"] is None
    assert "t-same" in jobs["job1"]["error"]["message"]
    assert "job0" in jobs["job1"]["error"]["message"]


def test_a_task_id_another_manifest_of_the_run_holds_is_not_shared_either(
    tmp_path: Path, cli: Cli, hostile: HostileServer
) -> None:
    same = (created("t-same"), [Reply(json=hostile.task_answer("t-same"))])
    ByPrompt(hostile, {"first": same, "second": same})
    one_at_a_time = "concurrency: 1, rate: 100, timeout: 30s, poll: {initial: 20ms}"
    first = write(tmp_path, ["first"], one_at_a_time, name="one")
    second = write(tmp_path, ["second"], one_at_a_time, name="two")
    assert cli("run", str(first), str(second), "--base-url", hostile.url, "--no-download") == 1
    no_traceback(cli)
    held, other = lock(tmp_path, "one")["jobs"]["job0"], lock(tmp_path, "two")["jobs"]["job0"]
    assert (held["status"], held["task_id"]) == ("completed", "t-same")
    assert (other["status"], other["task_id"]) == ("uncertain", None)
    assert "which job job0 of " in other["error"]["message"]
    assert "one.yaml already holds" in other["error"]["message"]


# -- 4. one transient answer never fails a job ------------------------------------------


def test_transient_poll_answers_do_not_end_the_task(
    tmp_path: Path, cli: Cli, hostile: HostileServer
) -> None:
    from tests.hostile import api_error, not_found

    # Each transient answer is followed by a readable one, so that each costs one
    # short backoff, and two tasks share them: the test stays quick.
    busy = Reply(json={"status": "processing"})
    ByPrompt(
        hostile,
        {
            "a": (
                created("t-a"),
                [
                    Reply(404, json=not_found("t-a")),
                    busy,
                    Reply(403, json=api_error("denied", "forbidden")),
                    busy,
                    Reply(302, headers={"Location": "/elsewhere"}),
                    Reply(json=hostile.task_answer("t-a")),
                ],
            ),
            "b": (
                created("t-b"),
                [
                    Reply(503, json=api_error("down", retryable=False)),
                    busy,
                    Reply(500, body="<html>oops</html>"),
                    busy,
                    Reply(404, body="not json"),
                    Reply(json=hostile.task_answer("t-b")),
                ],
            ),
        },
    )
    manifest = write(tmp_path, ["a", "b"])
    assert run(cli, hostile, manifest) == 0, cli.err
    jobs = lock(tmp_path)["jobs"]
    assert (jobs["job0"]["task_id"], jobs["job1"]["task_id"]) == ("t-a", "t-b")


def test_only_a_confirmed_not_found_ends_the_task_and_its_id_is_kept(
    tmp_path: Path, cli: Cli, hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.api import client
    from tests.hostile import not_found

    monkeypatch.setattr(client, "CONFIRM_NOT_FOUND", 0.3)  # seconds between the two sightings
    ByPrompt(hostile, {"gone": (created("t-gone"), [Reply(404, json=not_found("t-gone"))])})
    manifest = write(tmp_path, ["gone"])
    assert run(cli, hostile, manifest) == 1
    no_traceback(cli)
    entry = lock(tmp_path)["jobs"]["job0"]
    assert (entry["status"], entry["task_id"]) == ("failed", "t-gone")
    assert entry["error"]["code"] == "async_task_not_found"
    polls = hostile.seen("GET", "/v1/tasks/t-gone")
    assert len(polls) >= 2 and polls[-1].at - polls[0].at >= 0.3


# -- 5. no silent stall -------------------------------------------------------------------


def test_a_poll_retrying_past_the_timeout_stops_at_it(
    tmp_path: Path, cli: Cli, hostile: HostileServer
) -> None:
    import time

    ByPrompt(hostile, {"a": (created("t-a"), [Reply(503, json=api_error_body())])})
    manifest = write(
        tmp_path, ["a"], "concurrency: 1, rate: 100, timeout: 2s, poll: {initial: 50ms}"
    )
    started = time.monotonic()
    assert run(cli, hostile, manifest) == 1
    assert time.monotonic() - started < 6
    entry = lock(tmp_path)["jobs"]["job0"]
    assert (entry["status"], entry["task_id"]) == ("timed_out", "t-a")


def test_a_long_retry_after_is_reported_and_the_timeout_holds(
    tmp_path: Path, cli: Cli, hostile: HostileServer
) -> None:
    import time

    slow = Reply(429, json={"error": {"message": "slow down"}}, headers={"Retry-After": "86400"})
    ByPrompt(hostile, {"a": (created("t-a"), [slow])})
    manifest = write(
        tmp_path, ["a"], "concurrency: 1, rate: 100, timeout: 2s, poll: {initial: 50ms}"
    )
    started = time.monotonic()
    assert run(cli, hostile, manifest, "--json") == 1
    assert time.monotonic() - started < 6
    warnings = [json.loads(x) for x in cli.out.splitlines() if '"warning"' in x]
    assert any("300" in w["message"] and "wait" in w["message"] for w in warnings), cli.out
    assert lock(tmp_path)["jobs"]["job0"]["status"] == "timed_out"


def api_error_body() -> dict[str, Any]:
    return {"error": {"message": "busy", "type": "server_error", "code": "busy"}}


def test_the_live_model_list_neither_leaks_the_key_nor_reaches_the_terminal_raw(
    tmp_path: Path, cli: Cli, hostile: HostileServer
) -> None:
    listing = {
        "data": [
            {"id": "kling-v2.6-pro", "type": "video", "owned_by": "\x1b[31mvendor\x1b[0m"},
            {"id": "evil\x1b[2J\x1b]0;pwned\x07", "type": "video"},
            {"id": f"model-{KEY}", "type": "video"},
        ]
    }
    hostile.script("GET", "/v1/models", Reply(json=listing))
    detail = Reply(body='{"supported_operations": ["text-to-video"], "price": NaN}')
    hostile.script("GET", "/v1/models/", detail, detail, detail)
    cli.environ["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    assert cli("models", "--refresh", "--base-url", hostile.url) == 0, cli.err
    cached = (tmp_path / "cache" / "vidbatch" / "models.json").read_text()
    assert KEY not in cli.out + cli.err + cached
    assert "\x1b" not in cli.out + cli.err + cached
    assert "model-[redacted]" in cli.out and "evil" not in cli.out

    refused = {"error": {"message": f"\x1b[31mkey {KEY} refused\x1b[0m"}}
    hostile.script("GET", "/v1/models", Reply(401, json=refused))
    assert cli("models", "--refresh", "--base-url", hostile.url) == 3
    assert KEY not in cli.err and "\x1b" not in cli.err and "refused" in cli.err


def test_status_refresh_is_bounded_in_time_and_says_why_nothing_changed(
    tmp_path: Path, cli: Cli, hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from runner.run import session

    busy = Reply(json={"status": "processing", "progress": 10})
    ByPrompt(hostile, {"a": (created("t-a"), [busy])})
    quick = "concurrency: 1, rate: 100, timeout: 1s, poll: {initial: 20ms}"
    manifest = write(tmp_path, ["a"], quick)
    assert run(cli, hostile, manifest) == 1  # timed out, to be refreshed
    slow = Reply(429, json={"error": {"message": "slow down"}}, headers={"Retry-After": "86400"})
    hostile.handler = lambda seen: slow if seen.method == "GET" else None
    monkeypatch.setattr(session, "REFRESH_LIMIT", 1.0)
    started = time.monotonic()
    assert cli("status", str(manifest), "--refresh", "--base-url", hostile.url) == 0
    assert time.monotonic() - started < 5
    assert "every request waits 300s" in cli.err
    assert "job0: no readable answer within 1s; left as it was" in cli.err
    entry = lock(tmp_path)["jobs"]["job0"]
    assert (entry["status"], entry["task_id"]) == ("timed_out", "t-a")
