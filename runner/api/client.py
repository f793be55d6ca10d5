"""The LemonData video API: create a task, poll it; errors classified per status.

One ``ApiClient`` per run sends through an injected ``httpx.AsyncClient`` (httpx's
own stack, configured by ``runner.commands.clients``; in tests one on
``httpx.MockTransport``, the sandbox's transport or a loopback server);
the key goes on each request to the API's own origin, and nowhere else. Every
request takes a token from the run's ``RateLimiter``.

Errors (api/README.md, "Errors" and "Idempotency and billing")::

    KeyRefused (ApiStopped)   401: stop the whole run
    └── NetworkStopped        TLS or proxy failure: stop the whole run (exit 2)
    NoBalance (ApiStopped)    402: stop submitting, finish polling
    JobRejected               400/403/404/413 ...: that job fails, details kept
    ├── TaskNotFound          a poll's async_task_not_found, confirmed
    ├── CancelRefused         a cancel the API refused (400, 409, ...): the task goes on
    └── GaveUp                429/5xx/network errors outlasted every retry
    CreateUncertain           a create was sent and no answer came back

A create is retried only when it certainly made no task: the connection was never
made, or the server answered with an error body (429, or 500/502/503 with one).

A poll is only ever retried: no single answer ends a task. Only a failed status
or ``async_task_not_found`` seen again ``confirm_not_found`` seconds after the
first (a gateway or a load balancer out of step answers 404 or 403 for a moment)
ends it, and a poll answer about another task is not taken for this one's.

Every body is parsed once, as it arrives, by ``apitext.parse``: the key is
redacted from it there, so nothing kept or shown later can hold it. Waits are
bounded (``responses.MAX_RETRY_AFTER``), and one longer than ``NOTICE_AFTER``
seconds is reported through the caller's ``notice``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from runner import __version__
from runner.api import network, responses
from runner.api.polltargets import PollTargets
from runner.api.ratelimit import RateLimiter
from runner.api.responses import MAX_RETRY_AFTER, Created, TaskState, api_error, retry_after
from runner.base import apitext
from runner.base.errors import EXIT_USAGE, ApiStopped
from runner.catalog import costs

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
USER_AGENT = f"vidbatch/{__version__}"
CREATE_PATH = "/v1/videos/generations"
NEVER_SENT = network.NEVER_SENT  # the errors of a request that certainly never left
MAX_ANSWER = 16 * network.MIB  # an API answer larger than this is cut off, unused
DEADLINE = 120.0  # seconds for one request and its whole answer, whatever the server trickles
NOT_FOUND = "async_task_not_found"
CONFIRM_NOT_FOUND = 5.0  # seconds between two not-found answers before a task is gone
NOTICE_AFTER = 5.0  # seconds: a longer wait is reported, never silent
# A 429 says "not now": nothing was made, so asking again is always safe, and a
# busy server answering it several times in a row must not fail the job. 429s do
# not use up a request's tries; only this long a run of them does.
RATE_LIMITED_FOR = 600.0
Notice = Callable[[str], None]
# Sends a request and reads its answer whole, decoded, capped at the size given:
# by default through the httpx client; runner.api.transport's is aiohttp's, directly.
Exchange = Callable[[httpx.Request, int], Awaitable[tuple[httpx.Response, bytes]]]


class KeyRefused(ApiStopped):
    """401: the key is invalid or expired."""


class NetworkStopped(KeyRefused):
    """A TLS or proxy failure: the machine's settings, which no retry mends.

    Handled as a refused key is (the run stops at once, state saved), but a
    configuration problem, exit 2, with the cause as the message."""

    exit_code = EXIT_USAGE


class NoBalance(ApiStopped):
    """402: no balance, or the key's spend limit is reached."""


class JobRejected(Exception):
    """The API refused this job; ``error`` is what the lockfile records."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error


class GaveUp(JobRejected):
    """Transient errors (429, 5xx, network) outlasted every retry."""


class TaskNotFound(JobRejected):
    """The API said twice, some seconds apart, that it does not know the task."""


class CancelRefused(JobRejected):
    """The API did not cancel the task (400 unsupported_task_cancel, 409
    task_not_cancellable, 404 ...); ``error`` holds its reason."""


class CreateUncertain(Exception):
    """A create was sent and its outcome is unknown: a task may exist."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter between ``base`` and ``cap`` seconds."""

    base: float = 0.5
    cap: float = 30.0
    attempts: int = 8

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)


class _Tries:
    """One request's tries: 5xx answers, network errors and unreadable answers use them
    up (``Backoff.attempts``); 429s do not, until they have lasted ``RATE_LIMITED_FOR``."""

    def __init__(self, attempts: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self._clock = clock
        self.failed = 0  # tries used up
        self.limited = 0  # 429s answered
        self._since: float | None = None  # the first 429 of the run of them

    @property
    def step(self) -> int:
        """The backoff step of the next wait."""
        return min(self.failed + self.limited, self.attempts)

    def again(self, outcome: _Outcome) -> bool:
        """Count ``outcome`` (not a success); whether to try once more."""
        response = outcome.response
        if response is not None and response.status_code == 429:
            now = self._clock()
            if self._since is None:
                self._since = now
            self.limited += 1
            return now - self._since < RATE_LIMITED_FOR
        self._since = None
        self.failed += 1
        return self.failed < self.attempts

    def said(self) -> str:
        tries = self.failed + self.limited
        if self.failed < self.attempts:  # ended by a run of 429s
            return f"gave up after {tries} tries (429 for {RATE_LIMITED_FOR:g}s)"
        return f"gave up after {tries} tries"


@dataclass
class _Outcome:
    """What one attempt gave: a response and its parsed body, or the network error.

    The response's body was read (streamed, capped) and is closed: ``body`` holds it parsed."""

    response: httpx.Response | None = None
    error: httpx.HTTPError | None = None
    body: Any = None


class ApiClient:
    """Creates and polls tasks on ``base_url`` with ``api_key``; retries what is safe.

    ``http`` sends every request, unless ``exchange`` is given (then it does);
    ``proxy`` names the proxy the API is routed through, if any, for the message
    when it cannot be reached."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        limiter: RateLimiter,
        backoff: Backoff | None = None,
        timeout: httpx.Timeout | None = None,
        confirm_not_found: float | None = None,
        proxy: str | None = None,
        exchange: Exchange | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._clock = clock  # how long a run of 429s has lasted
        self._exchange = exchange or self._through_httpx
        self._proxy = proxy
        self._ext = {"timeout": (timeout or DEFAULT_TIMEOUT).as_dict()}
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self._key = api_key
        self._limiter = limiter
        self._backoff = backoff or Backoff()
        self.requests = 0
        self._create_url = self.base_url.join(CREATE_PATH.lstrip("/"))
        self._targets = PollTargets(self.base_url)
        self._headers = {
            "Authorization": f"Bearer {self._key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        # One GET per task in flight, reused for each of its polls: building an
        # httpx.Request (headers, URL) costs more than the rest of a poll's Python.
        self._polls: dict[tuple[str, str | None], httpx.Request] = {}
        self._confirm = CONFIRM_NOT_FOUND if confirm_not_found is None else confirm_not_found
        self._missing: dict[str, float] = {}  # task id -> when the API first said not found

    @property
    def has_key(self) -> bool:
        return bool(self._key)

    def poll_target(self, task_id: str, poll_url: str | None) -> httpx.URL:
        """The URL to poll: ``poll_url`` as returned, or /v1/tasks/{id} when none (or foreign)."""
        return self._targets.target(task_id, poll_url)

    def is_foreign(self, poll_url: str | None) -> bool:
        """Whether ``poll_url`` points at another origin (and so is not used)."""
        return self._targets.is_foreign(poll_url)

    def forget(self, task_id: str, poll_url: str | None) -> None:
        """Drop the resolved poll URL (and request) of a task that is done with."""
        self._targets.forget(task_id, poll_url)
        self._polls.pop((task_id, poll_url), None)
        self._missing.pop(task_id, None)

    async def create(
        self,
        body: dict[str, Any],
        record: Callable[[Created], Awaitable[None]],
        notice: Notice | None = None,
    ) -> Created:
        """Create a task; ``record`` runs, shielded with the request, once the id is known.

        ``notice`` hears of any wait longer than ``NOTICE_AFTER`` seconds."""
        url = self._create_url
        tries = _Tries(self._backoff.attempts, self._clock)
        while True:
            await self._limiter.acquire()
            with anyio.CancelScope(shield=True):
                outcome = await self._send(self._request("POST", url, body))
                created = self._created(outcome)
                if created is not None:
                    await record(created)
                    return created
            if not tries.again(outcome):
                raise GaveUp(self._gave_up(outcome, tries))
            await self._wait_after(outcome, tries.step, notice)

    async def poll(
        self, task_id: str, poll_url: str | None, notice: Notice | None = None
    ) -> TaskState:
        """The task's state, retrying transient errors and unreadable answers.

        Callers bound it in time (the task's timeout): it may wait as long as a
        server's Retry-After asks, up to ``MAX_RETRY_AFTER``."""
        request = self._polls.get((task_id, poll_url))
        if request is None:
            request = self._request("GET", self.poll_target(task_id, poll_url), None)
            self._polls[(task_id, poll_url)] = request
        tries = _Tries(self._backoff.attempts, self._clock)
        while True:
            await self._limiter.acquire()
            outcome = await self._send(request)
            response = outcome.response
            if response is not None and response.is_success:
                state = responses.task_state(outcome.body, task_id)
                if state is not None:
                    self._limiter.succeeded(response.headers)
                    self._missing.pop(task_id, None)
                    return state
            elif response is not None:
                self._raise_for_poll(task_id, response, outcome.body)
            if not tries.again(outcome):
                raise GaveUp(self._gave_up(outcome, tries))
            await self._wait_after(outcome, tries.step, notice)

    async def cancel(self, task_id: str, notice: Notice | None = None) -> TaskState | None:
        """``DELETE /v1/tasks/{id}``: the task's state the answer gives (None if unreadable).

        Raises CancelRefused with the API's error when it refuses (any 4xx but
        401/402/429), KeyRefused or NoBalance, GaveUp when 429s, 5xx or network
        errors outlast the retries (a cancel is safe to repeat)."""
        request = self._request("DELETE", self.poll_target(task_id, None), None)
        tries = _Tries(self._backoff.attempts, self._clock)
        while True:
            await self._limiter.acquire()
            outcome = await self._send(request)
            response = outcome.response
            if response is not None and response.is_success:
                self._limiter.succeeded(response.headers)
                return responses.task_state(outcome.body, task_id)
            if response is not None:
                status = response.status_code
                self._raise_for_key(status, outcome.body)
                if status != 429 and not (status >= 500 and _retryable(outcome.body)):
                    raise CancelRefused(api_error(status, outcome.body, response.headers))
            if not tries.again(outcome):
                raise GaveUp(self._gave_up(outcome, tries))
            await self._wait_after(outcome, tries.step, notice)

    def _request(self, method: str, url: httpx.URL, body: dict[str, Any] | None) -> httpx.Request:
        return httpx.Request(method, url, json=body, headers=self._headers, extensions=self._ext)

    async def _send(self, request: httpx.Request) -> _Outcome:
        """One request, its answer read whole: at most MAX_ANSWER bytes, within DEADLINE.

        A TLS or proxy failure raises NetworkStopped: no retry can mend it. The
        answer's body is parsed into ``body``; the response holds it as read."""
        self.requests += 1
        try:
            with anyio.fail_after(DEADLINE):
                response, content = await self._exchange(request, MAX_ANSWER)
        except TimeoutError:
            late = httpx.ReadTimeout(f"no whole answer within {DEADLINE:g}s", request=request)
            return _Outcome(error=late)
        except httpx.HTTPError as err:
            problem = network.setup_problem(err, self._proxy)
            if problem is not None:
                raise NetworkStopped(problem) from None
            return _Outcome(error=err)
        if response.status_code == 407:  # from a proxy forwarding http:// requests
            raise NetworkStopped(network.proxy_auth_problem(self._proxy))
        return _Outcome(response, body=apitext.parse(content, self._key))

    async def _through_httpx(
        self, request: httpx.Request, limit: int
    ) -> tuple[httpx.Response, bytes]:
        response = await self._http.send(request, stream=True)
        try:
            return response, await network.read_capped(response, limit)
        finally:
            await response.aclose()

    def _created(self, outcome: _Outcome) -> Created | None:
        """The created task, None to retry safely; raises when the job cannot go on."""
        response = outcome.response
        if response is None:
            if isinstance(outcome.error, NEVER_SENT):
                return None
            raise CreateUncertain(f"no answer to the create ({network.describe(outcome.error)})")
        if response.is_success:
            created = responses.created(outcome.body, response.headers)
            if created is None:
                status = response.status_code
                raise CreateUncertain(
                    f"the answer to the create names no usable task id (HTTP {status})"
                )
            self._limiter.succeeded(response.headers)
            return created
        if response.status_code == 504:
            raise CreateUncertain("the gateway timed out (HTTP 504) after the create was sent")
        self._raise_for_job(response, outcome.body)
        if response.status_code >= 500 and not _has_error_body(outcome.body):
            raise CreateUncertain(f"HTTP {response.status_code} without an error body")
        return None

    def _raise_for_job(self, response: httpx.Response, body: Any) -> None:
        """Raise for answers that end the job or the run; return for retryable ones."""
        status = response.status_code
        if status == 429 or (status >= 500 and _retryable(body)):
            return
        self._raise_for_key(status, body)
        raise JobRejected(api_error(status, body, response.headers))

    def _raise_for_poll(self, task_id: str, response: httpx.Response, body: Any) -> None:
        """Raise when the key is refused or the task is gone for sure; else retry."""
        status = response.status_code
        self._raise_for_key(status, body)
        if status in (403, 404) and responses.error_code(body) == NOT_FOUND:
            now, first = time.monotonic(), self._missing.get(task_id)
            if first is None:
                self._missing[task_id] = now
            elif now - first >= self._confirm:  # seen twice, far enough apart
                raise TaskNotFound(api_error(status, body, response.headers))

    def _raise_for_key(self, status: int, body: Any) -> None:
        if status not in (401, 402):
            return
        message = apitext.printable(api_error(status, body)["message"])
        if status == 401:
            raise KeyRefused(f"the API refused the key (HTTP 401): {message}")
        detail = costs.payment_detail(body)  # issue 12: estimated_cost_usd, balance_usd
        raise NoBalance(f"the API refused to bill the key (HTTP 402): {message}{detail}")

    async def _wait_after(self, outcome: _Outcome, attempt: int, notice: Notice | None) -> None:
        delay = self._backoff.delay(attempt)
        response = outcome.response
        if response is not None and response.status_code == 429:
            asked = retry_after(response, outcome.body)
            wait = delay if asked is None else asked
            before = self._limiter.pauses
            self._limiter.pause(wait, response.headers)
            # Reported once per pause, not by every request that runs into it.
            if notice is not None and wait > NOTICE_AFTER and self._limiter.pauses > before:
                most = " (the most vidbatch waits)" if wait >= MAX_RETRY_AFTER else ""
                notice(f"rate limited (HTTP 429): every request waits {wait:.0f}s{most}")
            return
        if notice is not None and delay > NOTICE_AFTER:
            notice(f"{_describe(outcome)}; trying again in {delay:.0f}s")
        await anyio.sleep(delay)

    def _gave_up(self, outcome: _Outcome, tries: _Tries) -> dict[str, Any]:
        response = outcome.response
        if response is not None:
            error = api_error(response.status_code, outcome.body, response.headers)
            error["message"] = f"{tries.said()}: {error['message']}"
            return error
        return {"message": f"{tries.said()}: network error ({network.describe(outcome.error)})"}


def _describe(outcome: _Outcome) -> str:
    if outcome.response is not None:
        return f"the API answered HTTP {outcome.response.status_code}"
    return f"network error ({network.describe(outcome.error)})"


def _has_error_body(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("error"), (dict, str))


def _retryable(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return not (isinstance(error, dict) and error.get("retryable") is False)
