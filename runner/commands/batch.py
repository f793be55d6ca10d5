"""What run, download and status share: flags, API settings, clients, reporters, summary.

This is adapter code: it reads the environment handed in through the Context,
builds the real httpx clients (or the in-process sandbox), and chooses the
reporter; the core modules only ever see typed values.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import httpx

from runner.api import hosts
from runner.api.client import ApiClient, Backoff
from runner.api.ratelimit import RateLimiter
from runner.base.errors import ConfigError, UsageError
from runner.cli import Context
from runner.commands import clients
from runner.commands.flags import DEFAULT_BASE_URL, SANDBOX_SPEED
from runner.manifest.loader import parse_duration
from runner.review.progress import BarReporter, JsonReporter, LogReporter
from runner.run.download import Downloader
from runner.run.engine import Outcome
from runner.run.events import Reporter

if TYPE_CHECKING:
    from runner.api.transport import AiohttpTransport

SANDBOX_BASE = "http://api.sandbox.invalid"
SANDBOX_FILES = "http://files.sandbox.invalid"
SANDBOX_KEY = "sk-sandbox"
API_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DOWNLOAD_TIMEOUT = httpx.Timeout(120.0, connect=10.0)


@dataclass(frozen=True)
class Api:
    """Where the API is and the key to use (never printed)."""

    base_url: str
    key: str
    sandbox: bool = False


def api_settings(
    ns: argparse.Namespace, environ: Mapping[str, str], *, need_key: bool = True
) -> Api:
    """The base URL (flag > env > default) and key (env only) for this run.

    Both are checked here, before anything is sent: a value httpx would refuse
    while encoding a request (a non-ASCII key, a line break in it, a port past
    65535) would otherwise surface in the middle of a run as a failed or
    uncertain job, or as a traceback.
    """
    if getattr(ns, "sandbox", False):
        return Api(SANDBOX_BASE, SANDBOX_KEY, sandbox=True)
    base_url = (ns.base_url or environ.get("LEMONDATA_BASE_URL") or DEFAULT_BASE_URL).strip()
    problem = base_url_problem(base_url)
    if problem:
        raise ConfigError(f"the API base URL {_shown_url(base_url)} {problem}")
    key = environ.get("LEMONDATA_API_KEY", "").strip()
    if not key and need_key:
        raise ConfigError(
            "LEMONDATA_API_KEY is not set: export your API key, "
            "or try vidbatch without one on the embedded sandbox with --sandbox"
        )
    problem = key_problem(key)
    if problem:
        raise ConfigError(
            f"LEMONDATA_API_KEY {problem}, which an HTTP header cannot carry (header "
            "values are validated); export the key exactly as it was issued"
        )
    return Api(base_url, key)


_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def base_url_problem(text: str) -> str | None:
    """What is wrong with an API base URL, else None."""
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        return "holds a space or a control character"
    try:
        url = httpx.URL(text)
        port = url.port
        host = url.raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError) as err:
        return f"is not a valid URL ({err})"
    if url.scheme not in ("http", "https"):
        return "must be an http(s) URL"
    if not host:
        return "has no host name"
    if port is not None and not 0 < port < 65536:
        return f"has port {port}; a port is 1 to 65535"
    if not _valid_host(host):
        return f"has an invalid host name {host[:80]!r}"
    return None


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.removesuffix(".").split(".")
        return len(host) <= 253 and all(_LABEL.match(label) for label in labels)
    return True


def key_problem(key: str) -> str | None:
    """What keeps ``key`` out of an Authorization header, else None; never the key."""
    for position, ch in enumerate(key, start=1):
        if ch in "\r\n":
            return f"contains a line break (CR or LF) at character {position}"
        if not ch.isascii():
            return f"contains a non-ASCII character at character {position}"
        if not ch.isprintable() or ch.isspace():
            return f"contains a control character or space at character {position}"
    return None


def _shown_url(text: str) -> str:
    """The URL for a message: clipped, without any user:password part."""
    scheme, sep, rest = text.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = "***@" + rest.split("@", 1)[1]
    shown = f"{scheme}{sep}{rest}"
    return repr(shown if len(shown) <= 100 else shown[:97] + "...")


def duration_arg(text: str) -> float:
    """argparse type for durations like 90, 30s, 20m, 1h30m."""
    try:
        seconds = parse_duration(text)
    except (ValueError, KeyError):
        seconds = 0.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 90s, 20m or 1h)")
    return seconds


def make_reporter(ctx: Context, as_json: bool) -> Reporter:
    if as_json:
        return JsonReporter(ctx.stdout, ctx.stderr)
    if ctx.stderr_is_tty:
        return BarReporter(ctx.stderr)
    return LogReporter(ctx.stderr)


@dataclass
class Clients:
    """The API client and the downloader of one command."""

    api: ApiClient
    downloader: Downloader | None
    sandbox: Any = None


@asynccontextmanager
async def open_clients(
    api: Api, rate: float, connections: int, *, download: bool = True
) -> AsyncIterator[Clients]:
    """An API client (key on every request) and a separate downloader without it.

    Both httpx clients set up from the environment (proxies, CA bundle: see
    ``clients``), the API's sending through aiohttp directly when no proxy is
    set; on the sandbox, both talk to it in process.
    """
    limiter = RateLimiter(rate)
    async with contextlib.AsyncExitStack() as stack:
        api_http, files_http, sandbox, direct = _http_clients(api, connections, download)
        await stack.enter_async_context(api_http)
        client = ApiClient(
            api_http,
            base_url=api.base_url,
            api_key=api.key,
            limiter=limiter,
            backoff=Backoff(),
            timeout=API_TIMEOUT,
            proxy=None if api.sandbox else clients.proxy_for(api.base_url),
            exchange=direct.exchange if direct is not None else None,
        )
        downloader = None
        if files_http is not None:
            await stack.enter_async_context(files_http)
            internal = api.sandbox or hosts.written_internal(httpx.URL(api.base_url).host)
            downloader = Downloader(
                files_http, allow_internal=internal, proxy_for=clients.proxy_for
            )
        yield Clients(client, downloader, sandbox)


def _http_clients(
    api: Api, connections: int, download: bool
) -> tuple[httpx.AsyncClient, httpx.AsyncClient | None, Any, AiohttpTransport | None]:
    """The API's client, the downloads' client (if any), the in-process sandbox if any,
    and the API's aiohttp transport (under its client) if any."""
    if not api.sandbox:
        tls = clients.tls_context(clients.needs_tls(api.base_url, download))
        direct = clients.api_transport(connections, tls)
        api_http = clients.api_client(connections, tls, API_TIMEOUT, direct)
        internal_api = hosts.written_internal(httpx.URL(api.base_url).host)
        files_http = None
        if download:  # outputs from internal hosts only when the API is on one
            files_http = clients.files_client(tls, DOWNLOAD_TIMEOUT, not internal_api)
        return api_http, files_http, None, direct
    sandbox, transport = in_process_sandbox(speed=SANDBOX_SPEED, output_base_url=SANDBOX_FILES)
    api_http = httpx.AsyncClient(transport=transport(sandbox), timeout=API_TIMEOUT)
    files = httpx.AsyncClient(transport=transport(sandbox), timeout=DOWNLOAD_TIMEOUT)
    return api_http, files if download else None, sandbox, None


def in_process_sandbox(**config: Any) -> tuple[Any, Callable[[Any], httpx.AsyncBaseTransport]]:
    """A Sandbox with ``config``, and the function that makes transports to it."""
    try:
        from runner.sandbox import Sandbox, SandboxConfig, transport
    except ImportError as err:
        raise UsageError(
            f"--sandbox needs the 'sandbox' extra ({err.name} is missing): "
            "pip install 'vidbatch[sandbox]'"
        ) from None
    return Sandbox(SandboxConfig(**config)), transport


def print_summary(outcome: Outcome, stream: TextIO, cwd: Path) -> None:
    """The closing summary: counts by status, elapsed time, where things are."""
    counts = ", ".join(f"{n} {status}" for status, n in sorted(outcome.counts.items()))
    stream.write(f"summary: {counts or 'nothing to do'} in {outcome.elapsed:.1f}s\n")
    if outcome.missing_outputs:
        stream.write(
            f"summary: {outcome.missing_outputs} output(s) not on disk; "
            "`vidbatch download` fetches them\n"
        )
    for lock, out in zip(outcome.lockfiles, outcome.outputs, strict=True):
        stream.write(f"lockfile: {_shown(lock, cwd)}  outputs: {_shown(out, cwd)}\n")
    if outcome.write_error is not None:
        _print_write_failure(outcome, stream, cwd)
    elif outcome.interrupted:
        stream.write("interrupted: state saved; the next `vidbatch run` resumes\n")
    stream.flush()


def _print_write_failure(outcome: Outcome, stream: TextIO, cwd: Path) -> None:
    """The lockfile could not be kept: say so, and give every task id it lacks."""
    stream.write(f"vidbatch: error: {outcome.write_error}; the run stopped\n")
    if not outcome.unsaved:
        stream.write("vidbatch: every task id the API returned is recorded in the lockfile\n")
    for lock, tasks in outcome.unsaved.items():
        stream.write(
            f"vidbatch: {len(tasks)} task id(s) are not recorded in {_shown(lock, cwd)}; "
            "keep them (the tasks may be billed):\n"
        )
        for key, task_id in sorted(tasks.items()):
            stream.write(f"  {key}  {task_id}\n")


def _shown(path: Path, cwd: Path) -> str:
    try:
        return str(path.absolute().relative_to(cwd))
    except ValueError:
        return str(path)
