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
    CreateUncertain           a create was sent and no answer came back
    GaveUp                    429/5xx/network errors outlasted every retry

A create is retried only when it certainly made no task: the connection was never
made, or the server answered with an error body (429, or 500/502/503 with one).
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import anyio
import httpx

from runner import __version__, network, responses
from runner.errors import EXIT_USAGE, ApiStopped
from runner.ratelimit import RateLimiter
from runner.responses import Created, TaskState, api_error, retry_after

DEFAULT_BASE_URL = "https://api.lemondata.cc"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
USER_AGENT = f"vidbatch/{__version__}"
CREATE_PATH = "/v1/videos/generations"
TASK_PATH = "/v1/tasks/"
NEVER_SENT = network.NEVER_SENT  # the errors of a request that certainly never left
MAX_ANSWER = 16 * network.MIB  # an API answer larger than this is cut off, unused
DEADLINE = 120.0  # seconds for one request and its whole answer, whatever the server trickles


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


@dataclass
class _Outcome:
    """What one attempt gave: a response, or the network error that replaced it."""

    response: httpx.Response | None = None
    error: httpx.HTTPError | None = None


class ApiClient:
    """Creates and polls tasks on ``base_url`` with ``api_key``; retries what is safe.

    ``http`` sends every request; ``proxy`` names the proxy it routes the API
    through, if any, for the message when it cannot be reached."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        limiter: RateLimiter,
        backoff: Backoff | None = None,
        timeout: httpx.Timeout | None = None,
        proxy: str | None = None,
    ) -> None:
        self._http = http
        self._proxy = proxy
        self._ext = {"timeout": (timeout or DEFAULT_TIMEOUT).as_dict()}
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self._key = api_key
        self._limiter = limiter
        self._backoff = backoff or Backoff()
        self.requests = 0
        self._create_url = self.base_url.join(CREATE_PATH.lstrip("/"))
        self._origin = str(self.base_url.copy_with(path="/", query=None, fragment=None))[:-1]
        self._targets: dict[tuple[str, str | None], httpx.URL] = {}
        self._headers = {
            "Authorization": f"Bearer {self._key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        # One GET per task in flight, reused for each of its polls: building an
        # httpx.Request (headers, URL) costs more than the rest of a poll's Python.
        self._polls: dict[tuple[str, str | None], httpx.Request] = {}

    @property
    def has_key(self) -> bool:
        return bool(self._key)

    def poll_target(self, task_id: str, poll_url: str | None) -> httpx.URL:
        """The URL to poll: ``poll_url`` as returned, or /v1/tasks/{id} when none (or foreign).

        Resolved once per task: httpx parses URLs character by character.
        """
        key = (task_id, poll_url)
        target = self._targets.get(key)
        if target is None:
            target = self._resolve(task_id, poll_url)
            self._targets[key] = target
        return target

    def is_foreign(self, poll_url: str | None) -> bool:
        """Whether ``poll_url`` points at another origin (and so is not used)."""
        if not poll_url or (poll_url.startswith("/") and not poll_url.startswith("//")):
            return False
        return not same_origin(self.base_url.join(poll_url), self.base_url)

    def forget(self, task_id: str, poll_url: str | None) -> None:
        """Drop the resolved poll URL (and request) of a task that is done with."""
        self._targets.pop((task_id, poll_url), None)
        self._polls.pop((task_id, poll_url), None)

    def _resolve(self, task_id: str, poll_url: str | None) -> httpx.URL:
        if poll_url and poll_url.startswith("/") and not poll_url.startswith("//"):
            return httpx.URL(self._origin + poll_url)  # the usual case, without a join
        if poll_url:
            url = self.base_url.join(poll_url)
            if same_origin(url, self.base_url):
                return url
        return self.base_url.join(TASK_PATH.lstrip("/") + quote(task_id, safe=""))

    async def create(
        self, body: dict[str, Any], record: Callable[[Created], Awaitable[None]]
    ) -> Created:
        """Create a task; ``record`` runs, shielded with the request, once the id is known."""
        url = self._create_url
        for attempt in range(self._backoff.attempts):
            await self._limiter.acquire()
            with anyio.CancelScope(shield=True):
                outcome = await self._send(self._request("POST", url, body))
                created = self._created(outcome)
                if created is not None:
                    await record(created)
                    return created
            await self._wait_after(outcome, attempt)
        raise GaveUp(self._gave_up(outcome))

    async def poll(self, task_id: str, poll_url: str | None) -> TaskState:
        """The task's state, retrying transient errors and malformed bodies."""
        request = self._polls.get((task_id, poll_url))
        if request is None:
            request = self._request("GET", self.poll_target(task_id, poll_url), None)
            self._polls[(task_id, poll_url)] = request
        for attempt in range(self._backoff.attempts):
            await self._limiter.acquire()
            outcome = await self._send(request)
            response = outcome.response
            if response is not None and response.is_success:
                state = responses.task_state(_json(response))
                if state is not None:
                    self._limiter.succeeded()
                    return state
            elif response is not None:
                self._raise_for_job(response)
            await self._wait_after(outcome, attempt)
        raise GaveUp(self._gave_up(outcome))

    def _request(self, method: str, url: httpx.URL, body: dict[str, Any] | None) -> httpx.Request:
        return httpx.Request(method, url, json=body, headers=self._headers, extensions=self._ext)

    async def _send(self, request: httpx.Request) -> _Outcome:
        """One request, its answer read whole: at most MAX_ANSWER bytes, within DEADLINE.

        A TLS or proxy failure raises NetworkStopped: no retry can mend it."""
        self.requests += 1
        try:
            with anyio.fail_after(DEADLINE):
                response, content = await self._exchange(request)
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
        return _Outcome(response=network.whole(response, content))

    async def _exchange(self, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        response = await self._http.send(request, stream=True)
        try:
            return response, await network.read_capped(response, MAX_ANSWER)
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
            created = responses.created(_json(response))
            if created is None:
                status = response.status_code
                raise CreateUncertain(f"unreadable answer to the create (HTTP {status})")
            self._limiter.succeeded()
            return created
        if response.status_code == 504:
            raise CreateUncertain("the gateway timed out (HTTP 504) after the create was sent")
        self._raise_for_job(response)
        if response.status_code >= 500 and not _has_error_body(response):
            raise CreateUncertain(f"HTTP {response.status_code} without an error body")
        return None

    def _raise_for_job(self, response: httpx.Response) -> None:
        """Raise for answers that end the job or the run; return for retryable ones."""
        status = response.status_code
        if status == 429 or (status >= 500 and _retryable(response)):
            return
        error = api_error(response.status_code, _json(response), self._redact)
        if status == 401:
            raise KeyRefused(f"the API refused the key (HTTP 401): {error['message']}")
        if status == 402:
            raise NoBalance(f"the API refused to bill the key (HTTP 402): {error['message']}")
        raise JobRejected(error)

    async def _wait_after(self, outcome: _Outcome, attempt: int) -> None:
        delay = self._backoff.delay(attempt)
        response = outcome.response
        if response is not None and response.status_code == 429:
            self._limiter.pause(retry_after(response, _json(response)) or delay)
            return
        await anyio.sleep(delay)

    def _gave_up(self, outcome: _Outcome) -> dict[str, Any]:
        response = outcome.response
        if response is not None:
            error = api_error(response.status_code, _json(response), self._redact)
            error["message"] = f"gave up after {self._backoff.attempts} tries: {error['message']}"
            return error
        kind = network.describe(outcome.error)
        return {"message": f"gave up after {self._backoff.attempts} tries: network error ({kind})"}

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text


def same_origin(url: httpx.URL, base: httpx.URL) -> bool:
    return (url.scheme, url.host, _port(url)) == (base.scheme, base.host, _port(base))


def _port(url: httpx.URL) -> int | None:
    return url.port or {"http": 80, "https": 443}.get(url.scheme)


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _has_error_body(response: httpx.Response) -> bool:
    body = _json(response)
    return isinstance(body, dict) and isinstance(body.get("error"), (dict, str))


def _retryable(response: httpx.Response) -> bool:
    body = _json(response)
    error = body.get("error") if isinstance(body, dict) else None
    return not (isinstance(error, dict) and error.get("retryable") is False)
