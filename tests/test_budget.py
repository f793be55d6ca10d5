"""A hard budget end to end: plan with costs, run --max-cost, resumed runs, reports.

Every run talks to a sandbox on loopback. Prices come from a price cache the
test writes (so each job's maximum is exact), or from the sandbox's own public
``GET /v1/pricing`` with ``--fetch-prices``.
"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from runner.base.errors import EXIT_OVER_BUDGET
from runner.catalog import costs, prices
from runner.catalog.prices import Price, PriceBook
from runner.review.report import render_html
from runner.review.results import LockView
from runner.run.budget import Budget
from runner.sandbox import Sandbox, SandboxConfig, background
from tests.factory import validate_lockfile
from tests.netguard import no_network  # noqa: F401
from tests.reportfixtures import lock_document, make_outputs, write_lock
from tests.test_browser import VISIBLE, Browser, browser  # noqa: F401
from tests.test_run_cli import KEY, Cli

MODEL = "kling-v2.6-pro"
FRESH = "2999-01-01T00:00:00Z"  # a cache that is never stale in these tests


def manifest(folder: Path, count: int = 3, run: str = "", prompts: dict[int, str] | None = None,
             model: str = MODEL) -> Path:  # fmt: skip
    jobs = "\n".join(
        f"  - id: shot{i}\n    prompt: {(prompts or {}).get(i, f'Shot {i}')}" for i in range(count)
    )
    path = folder / "shots.yaml"
    path.write_text(
        "version: 1\n"
        f"defaults: {{model: {model}, duration: 5}}\n"
        "run: {concurrency: 4, rate: 50, timeout: 1m, poll: {initial: 50ms, max: 200ms}"
        f"{', ' + run if run else ''}}}\n"
        "output: {dir: renders, name: '${job}.mp4'}\n"
        f"jobs:\n{jobs}\n"
    )
    return path


def priced(cli: Cli, per_second: tuple[str, str] = ("0.10", "0.20")) -> None:
    """Cache a price for MODEL: by default $0.50-$1.00 for a 5 s job."""
    low, high = (Decimal(v) for v in per_second)
    book = PriceBook({MODEL: Price("per_second", low, high)}, "test", FRESH)
    prices.write_cache(prices.path_for(cli.environ), book)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli({"HOME": "/nonexistent", "XDG_CACHE_HOME": str(tmp_path / "cache")})


def serve(cli: Cli, **config: Any) -> Iterator[Sandbox]:
    sandbox = Sandbox(SandboxConfig(**{"task_seconds": (0.05, 0.1), **config}))
    with background(sandbox) as url:
        cli.environ["LEMONDATA_API_KEY"] = KEY
        cli.environ["LEMONDATA_BASE_URL"] = url
        yield sandbox


@pytest.fixture
def served(cli: Cli) -> Iterator[Sandbox]:
    yield from serve(cli, fail_prompt_marker="FAIL")


def summary_of(out: str) -> dict[str, Any]:
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["event"] == "summary"
    summary: dict[str, Any] = events[-1]
    return summary


def test_a_budget_cuts_the_plan_at_the_first_job_that_does_not_fit(
    tmp_path: Path, cli: Cli, served: Sandbox
) -> None:
    path = manifest(tmp_path, 5)
    priced(cli)
    assert cli("run", str(path), "--max-cost", "2.50") == EXIT_OVER_BUDGET, cli.err
    assert served.counters.creates == 2
    assert "summary: 2 completed, 3 over budget" in cli.err
    assert (
        "summary: budget $2.50 (--max-cost): committed up to $2.00 in 2 create(s), $0.50 left; "
        "3 job(s) over budget, not sent\n"
    ) in cli.err
    assert "could cost up to $1.00, and $0.50 of the budget of $2.50 is left" in cli.err
    doc = validate_lockfile(tmp_path / "shots.lock.json")
    assert sorted(doc["jobs"]) == ["shot0", "shot1"]  # the rest untouched, for the next run
    assert doc["jobs"]["shot0"]["estimate"] == {
        "min_usd": "0.5",
        "max_usd": "1",
        "basis": "per second x 5 s",
    }
    assert cli("plan", str(path)) == 0
    assert "  3 to submit, 2 up to date\n  would submit 3 jobs: $1.50-$3.00\n" in cli.out
    assert cli("run", str(path), "--max-cost", "3", "--json") == 0, cli.err
    (budget,) = summary_of(cli.out)["budgets"]
    assert budget["committed_usd"] == "3" and budget["left_usd"] == "0"
    assert budget["over_budget"] == 0 and served.counters.creates == 5


def test_no_budget_sends_everything_and_zero_sends_nothing(
    tmp_path: Path, cli: Cli, served: Sandbox
) -> None:
    path = manifest(tmp_path, 2)
    priced(cli)
    assert cli("run", str(path), "--max-cost", "0", "--json") == EXIT_OVER_BUDGET
    assert served.counters.creates == 0
    assert summary_of(cli.out)["counts"] == {"over budget": 2}
    assert (
        not (tmp_path / "shots.lock.json").exists()
        or not validate_lockfile(tmp_path / "shots.lock.json")["jobs"]
    )
    assert cli("run", str(path)) == 0 and served.counters.creates == 2
    assert "summary: budget" not in cli.err


def test_the_manifest_s_max_cost_and_the_flag_wins(
    tmp_path: Path, cli: Cli, served: Sandbox
) -> None:
    path = manifest(tmp_path, 3, run="max_cost: 1.5")
    priced(cli)
    assert cli("run", str(path)) == EXIT_OVER_BUDGET
    assert f"budget $1.50 (run.max_cost of {path}): committed up to $1.00" in cli.err
    assert served.counters.creates == 1
    assert cli("run", str(path), "--max-cost", "10") == 0
    assert served.counters.creates == 3


def test_resubmissions_count_against_the_budget(tmp_path: Path, cli: Cli, served: Sandbox) -> None:
    path = manifest(tmp_path, 2, run="retry_failed: 3", prompts={0: "FAIL always"})
    priced(cli)
    assert cli("run", str(path), "--max-cost", "2.5", "--json") == 1  # a failure wins over 5
    assert served.counters.creates == 2  # shot0 once and shot1; shot0's retry did not fit
    events = [json.loads(line) for line in cli.out.splitlines()]
    refused = [e for e in events if e["event"] == "over_budget"]
    assert [e["job"] for e in refused] == ["shot0"]
    assert summary_of(cli.out)["counts"] == {"completed": 1, "failed": 1}
    (budget,) = summary_of(cli.out)["budgets"]
    assert budget["committed_usd"] == "2" and budget["over_budget"] == 0


@pytest.fixture
def slow(cli: Cli) -> Iterator[Sandbox]:
    yield from serve(cli, task_seconds=(0.8, 1.0))


def test_resumed_tasks_hold_their_recorded_maximum(tmp_path: Path, cli: Cli, slow: Sandbox) -> None:
    path = manifest(tmp_path, 3)
    priced(cli)
    # The first run times out (its tasks go on, in flight): exit 1, one job over budget.
    assert cli("run", str(path), "--max-cost", "2", "--timeout", "200ms") == 1, cli.err
    assert "summary: 1 over budget, 2 timed_out" in cli.err and slow.counters.creates == 2
    # The prices rise; the resumed tasks are held at the maximum they were sent under.
    priced(cli, ("0.10", "0.30"))
    assert cli("plan", str(path)) == 0
    assert "would submit 1 job: $0.50-$1.50" in cli.out
    assert cli("run", str(path), "--max-cost", "3") == EXIT_OVER_BUDGET, cli.err
    assert slow.counters.creates == 2  # $2.00 in flight, and shot2 could cost $1.50
    assert (
        "budget $3.00 (--max-cost): committed up to $2.00 in 0 create(s) (of which $2.00 "
        "held by resumed tasks), $1.00 left; 1 job(s) over budget, not sent"
    ) in cli.err
    assert "summary: 2 completed, 1 over budget" in cli.err
    assert cli("run", str(path), "--max-cost", "3") == 0, cli.err
    assert slow.counters.creates == 3
    assert validate_lockfile(tmp_path / "shots.lock.json")["jobs"]["shot2"]["estimate"] == {
        "min_usd": "0.5",
        "max_usd": "1.5",
        "basis": "per second x 5 s",
    }


def test_unpriced_jobs_are_sent_under_a_budget_only_when_allowed(
    tmp_path: Path, cli: Cli, served: Sandbox
) -> None:
    path = manifest(tmp_path, 1, model="seedance-2.0")  # priced per 1M tokens
    assert cli("plan", str(path)) == 0
    assert "priced per 1M tokens" in cli.out and "would submit 1 job: $0.00, 1 unpriced" in cli.out
    assert cli("run", str(path), "--max-cost", "5") == EXIT_OVER_BUDGET
    assert served.counters.creates == 0 and "summary: 1 unpriced in" in cli.err
    assert "1 unpriced job(s) not sent (--allow-unpriced sends them)" in cli.err
    assert cli("run", str(path), "--max-cost", "5", "--allow-unpriced") == 0, cli.err
    assert served.counters.creates == 1 and "1 unpriced task(s) not counted" in cli.err
    entry = validate_lockfile(tmp_path / "shots.lock.json")["jobs"]["shot0"]
    assert entry["estimate"]["max_usd"] is None and "1M tokens" in entry["estimate"]["unknown"]


@pytest.mark.parametrize("amount", ["-1", "ten", "nan", "inf", "1e", ""])
def test_a_bad_budget_is_a_usage_error(
    tmp_path: Path, cli: Cli, served: Sandbox, amount: str
) -> None:
    path = manifest(tmp_path, 1)
    assert cli("run", str(path), "--max-cost", amount) == 2
    assert f"--max-cost: must be an amount in USD of 0 or more, not {amount!r}" in cli.err
    assert "Traceback" not in cli.err and served.counters.creates == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [("-1", "-1 is less than the minimum of 0"), ("ten", "'ten' is not of type number")],
)
def test_a_bad_max_cost_in_the_manifest_is_a_diagnostic(
    tmp_path: Path, cli: Cli, value: str, message: str
) -> None:
    path = manifest(tmp_path, 1, run=f"max_cost: {value}")
    assert cli("validate", str(path)) == 2
    assert f"error: run.max_cost: {message}" in cli.err


def test_a_402_shows_what_the_create_would_cost_and_the_balance(tmp_path: Path, cli: Cli) -> None:
    for _ in serve(cli, create_errors={402: 1.0}):
        assert cli("run", str(manifest(tmp_path, 1))) == 3
    assert (
        "the API refused to bill the key (HTTP 402): Insufficient balance; the request would "
        "cost $0.50 and the balance is $0.00; state saved"
    ) in cli.err


def test_plan_fetches_public_prices_without_a_key(
    tmp_path: Path, cli: Cli, served: Sandbox
) -> None:
    path = manifest(tmp_path, 2)
    del cli.environ["LEMONDATA_API_KEY"]  # the prices are public
    assert cli("plan", str(path)) == 0
    assert "new; unpriced (no price listed for kling-v2.6-pro)" in cli.out  # built-in
    assert cli("plan", str(path), "--fetch-prices") == 0, cli.err
    assert cli.out.startswith(
        f"{path} (lockfile shots.lock.json)\n"
        "  submit   shot0  new; $0.50 (per second x 5 s)\n"
        "  submit   shot1  new; $0.50 (per second x 5 s)\n"
        "  2 to submit\n"
        "  would submit 2 jobs: $1.00\n"
        "estimates: prices from /v1/pricing of "
    )
    cached = prices.read_cache(prices.path_for(cli.environ))
    assert cached is not None and cached.price(MODEL) is not None
    before = served.counters.model_requests
    assert cli("plan", str(path), "--fetch-prices", "--json") == 0  # fresh: not read again
    assert served.counters.model_requests == before
    body = json.loads(cli.out)
    assert body["estimate"] == {"min_usd": "1", "max_usd": "1", "priced": 2, "unpriced": 0}
    assert body["plans"][0]["jobs"][0]["estimate"] == {
        "min_usd": "0.5",
        "max_usd": "0.5",
        "basis": "per second x 5 s",
    }
    assert "price cache" in body["prices"]


def test_plan_without_reachable_prices_says_so_and_uses_what_it_has(
    tmp_path: Path, cli: Cli
) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = manifest(tmp_path, 1, model="veo3.1")
    assert cli("plan", str(path), "--fetch-prices", "--base-url", f"http://127.0.0.1:{port}") == 0
    assert "vidbatch: error: cannot read current prices (GET /v1/pricing failed" in cli.err
    assert "estimates use the built-in catalog's listed prices" in cli.err
    assert "new; $0.50-$1.50 (per second x 5 s)" in cli.out


def test_several_manifests_get_a_total(tmp_path: Path, cli: Cli) -> None:
    priced(cli)
    first = manifest(tmp_path, 2)
    other = tmp_path / "more"
    other.mkdir()
    second = manifest(other, 1, model="seedance-2.0")
    assert cli("plan", str(first), str(second)) == 0
    assert "in all: would submit 3 jobs: $1.00-$2.00, 1 unpriced\n" in cli.out


def test_summary_junit_and_report_show_estimates(tmp_path: Path, cli: Cli, served: Sandbox) -> None:
    path = manifest(tmp_path, 3)
    priced(cli)
    code = cli("run", str(path), "--max-cost", "2", "--summary", "s.md", "--junit", "j.xml")
    assert code == EXIT_OVER_BUDGET
    markdown = (tmp_path / "s.md").read_text()
    assert "Estimated cost: $1.00-$2.00\n" in markdown
    assert "Budget: budget $2.00 (--max-cost): committed up to $2.00 in 2 create(s)" in markdown
    assert "| `shot0` | `kling-v2.6-pro` |" in markdown and "| $0.50-$1.00 |" in markdown
    assert (
        "| `shots.yaml` | `shot2` | not run |  | not run: over budget: could cost up to $1.00, "
        "and $0.00 of the budget of $2.00 is left |"
    ).replace("shots.yaml", str(path)) in markdown
    junit = (tmp_path / "j.xml").read_text()
    assert '<skipped message="not run: over budget: could cost up to $1.00' in junit
    assert '<property name="estimated_cost_max_usd" value="2" />' in junit
    assert '<property name="estimated_cost" value="$0.50-$1.00 (per second x 5 s)" />' in junit
    assert cli("report", str(path), "-o", "r.html") == 0
    html = (tmp_path / "r.html").read_text()
    assert "Estimated cost: <b>$1.00-$2.00</b>" in html
    assert html.count('data-cost="1"') == 2 and html.count('data-cost=""') == 1  # shot2 not run
    assert '<select id="f-cost">' in html


def test_the_report_filters_by_estimate_in_a_browser(
    browser: Browser,  # noqa: F811 (the fixture, imported)
    tmp_path: Path,
) -> None:
    document = lock_document()
    estimates = {
        "cat-garden": {"min_usd": "0.5", "max_usd": "1", "basis": "per second x 5 s"},
        "xss": {"min_usd": "0.2", "max_usd": "0.25", "basis": "per request"},
        "slow": {"min_usd": None, "max_usd": None, "unknown": "priced per 1M tokens"},
    }
    for key, found in estimates.items():
        document["jobs"][key]["estimate"] = found
    lock = write_lock(tmp_path, document)
    make_outputs(tmp_path, document)
    page = tmp_path / "report.html"
    view = LockView("manifests/demo.yaml", lock, document, None)
    page.write_text(render_html([view], tmp_path), "utf-8")
    session = browser.open(page.as_uri())
    choose = (
        "(function (id, value, kind) { var s = document.getElementById(id); s.value = value;"
        " s.dispatchEvent(new Event(kind)); })"
    )
    browser.evaluate(session, f"{choose}('f-cost', 'unpriced', 'change')")
    assert browser.evaluate(session, VISIBLE) == ["slow"]
    browser.evaluate(session, f"{choose}('f-cost', 'priced', 'change')")
    assert sorted(browser.evaluate(session, VISIBLE)) == ["cat-garden", "xss"]
    browser.evaluate(session, f"{choose}('f-cost', '', 'change')")
    browser.evaluate(session, f"{choose}('f-cost-min', '0.5', 'input')")
    assert browser.evaluate(session, VISIBLE) == ["cat-garden"]
    assert browser.problems() == []


def test_the_confirmation_says_what_the_jobs_may_cost(
    tmp_path: Path, cli: Cli, served: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = manifest(tmp_path, 21)
    priced(cli)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert cli("run", str(path), tty=True) == 1
    assert "submit 21 jobs (each may be billed; estimated $10.50-$21.00)? [y/N]" in cli.err
    assert served.counters.creates == 0


def test_the_budget_s_arithmetic() -> None:
    one = costs.Estimate(Decimal("0.5"), Decimal("1"), "per second x 5 s")
    budget = Budget(Decimal("2.5"), "--max-cost")
    budget.hold_resumed(one)  # a resumed task, held at its maximum
    assert budget.take("m", "a", one, first=True) is None
    assert budget.committed == Decimal(2) and budget.resumed == Decimal(1)
    budget.give_back(one)  # refused by the API: no task, no bill
    assert budget.committed == Decimal(1) and budget.creates == 0
    assert budget.take("m", "a", one, first=True) is None
    assert budget.take("m", "b", costs.unknown("tokens"), first=True) == (
        "unpriced: tokens; --allow-unpriced sends it under a budget"
    )
    assert not budget.closed  # an unpriced job does not close the budget
    assert budget.take("m", "c", one, first=True) is not None  # 2 + 1 > 2.5: closed
    cheap = costs.Estimate(Decimal("0.01"), Decimal("0.01"), "per request")
    assert budget.take("m", "d", cheap, first=False) == (  # it would fit; the plan is cut
        "over budget: an earlier job did not fit the budget of $2.50"
    )
    assert budget.committed == Decimal(2) and budget.left == Decimal("0.5")
    assert budget.counts() == {"over budget": 1, "unpriced": 1}  # d was a resubmission
    allowed = Budget(Decimal(0), "x", allow_unpriced=True)
    assert allowed.take("m", "e", costs.unknown("tokens"), first=True) is None
    assert allowed.unpriced_sent == 1 and allowed.committed == 0


def test_resumed_tasks_of_an_older_lockfile_are_held_at_today_s_estimate(
    tmp_path: Path, cli: Cli, slow: Sandbox
) -> None:
    path = manifest(tmp_path, 3)
    priced(cli)
    assert cli("run", str(path), "--max-cost", "2", "--timeout", "200ms") == 1, cli.err
    lock = tmp_path / "shots.lock.json"
    doc = json.loads(lock.read_text())
    for entry in doc["jobs"].values():
        del entry["estimate"]  # as a lockfile written before estimates
    lock.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    priced(cli, ("0.10", "0.30"))  # $1.50 at most per job now
    assert cli("run", str(path), "--max-cost", "3.50") == EXIT_OVER_BUDGET, cli.err
    assert "(of which $3.00 held by resumed tasks), $0.50 left" in cli.err
    assert slow.counters.creates == 2 and "summary: 2 completed, 1 over budget" in cli.err


def test_a_resumed_task_that_fails_is_not_resubmitted_past_the_budget(
    tmp_path: Path, cli: Cli
) -> None:
    path = manifest(tmp_path, 1, run="retry_failed: 2", prompts={0: "FAIL at last"})
    priced(cli)
    for sandbox in serve(cli, task_seconds=(0.8, 1.0), fail_prompt_marker="FAIL"):
        assert cli("run", str(path), "--max-cost", "1", "--timeout", "200ms") == 1
        assert cli("run", str(path), "--max-cost", "1", "--json") == 1  # failed, not 5
        assert sandbox.counters.creates == 1  # the retry would pass $1.00 with the task held
        assert summary_of(cli.out)["counts"] == {"failed": 1}
        kinds = [json.loads(line)["event"] for line in cli.out.splitlines()]
        kinds = [kind for kind in kinds if kind != "progress"]
        assert kinds == ["resumed", "failed", "over_budget", "summary"]


def test_a_budget_past_a_trillion_is_refused(tmp_path: Path, cli: Cli) -> None:
    path = manifest(tmp_path, 1)
    assert cli("run", str(path), "--max-cost", "1e999999999") == 2
    assert "--max-cost: must be at most 1,000,000,000,000 USD, not '1e999999999'" in cli.err
    path.write_text(path.read_text().replace("max: 200ms}", "max: 200ms}, max_cost: 1.0e+300"))
    assert cli("validate", str(path)) == 2
    assert "run.max_cost: 1e+300 is greater than the maximum of 1000000000000" in cli.err


@pytest.mark.parametrize(
    ("code", "counts", "detached", "expected"),
    [
        (1, {"completed": 2, "over budget": 1}, False, 5),
        (1, {"completed": 1, "failed": 1, "over budget": 1}, False, 1),
        (1, {"processing": 1, "over budget": 1}, False, 1),  # attached: in flight is not done
        (1, {"processing": 1, "over budget": 1}, True, 5),  # detached: 5 outranks 4
        (4, {"processing": 1, "unpriced": 1}, True, 5),
        (4, {"processing": 2}, True, 4),  # nothing held back: the pass's own code
        (1, {"failed": 1, "processing": 1, "over budget": 1}, True, 1),
        (3, {"over budget": 1}, False, 3),
        (130, {"over budget": 1}, False, 130),
    ],
)
def test_exit_code_precedence_with_detach(
    code: int, counts: dict[str, int], detached: bool, expected: int
) -> None:
    from runner.commands import pricing
    from runner.run.engine import Outcome

    assert pricing.exit_code(code, Outcome(counts=counts), detached) == expected


def test_status_shows_what_each_recorded_create_was_sent_under(
    tmp_path: Path, cli: Cli, served: Sandbox
) -> None:
    path = manifest(tmp_path, 3)
    priced(cli)
    assert cli("run", str(path), "--max-cost", "2.50") == EXIT_OVER_BUDGET, cli.err
    assert cli("status", str(path)) == 0
    assert "shot0  task " in cli.out and "sent under $0.50-$1.00 (per second x 5 s)" in cli.out
    assert "estimated $1.00-$2.00 (each job's last create, as it was sent)\n" in cli.out
    assert cli("status", str(path), "--json") == 0
    (report,) = json.loads(cli.out)["manifests"]
    assert report["estimated"] == {"min_usd": "1", "max_usd": "2", "priced": 2, "unpriced": 0}
    rows = {row["job"]: row for row in report["jobs"]}
    assert rows["shot2"] == {"job": "shot2", "status": "not submitted"}  # left out: no estimate
    assert rows["shot1"]["estimate"]["max_usd"] == "1"
