"""CPU per API request of the runner's HTTP stack, without start-up or scheduling.

    .venv/bin/python benchmarks/stacks.py                       # what a run uses: direct
    .venv/bin/python benchmarks/stacks.py --stack httpx         # httpx's own stack
    BENCH_PYTHONPATH=/tmp/old .venv/bin/python benchmarks/stacks.py --label lean

Serves ``vidbatch sandbox`` in a process of its own, then, in a child process
(where BENCH_PYTHONPATH puts another copy of the package first, as for
benchmarks/run.py), creates one task and polls it ``--requests`` times from
``--tasks`` concurrent pollers through ``ApiClient``, the way a run does. The
child's own CPU (user + sys, from getrusage) over the polls alone, divided by
the requests, is the figure: the HTTP stack plus the client's Python above it.
The sandbox's CPU is in the other process and not counted. Repeated
``--repeat`` times; the median is printed with the range.

``--stack``: ``direct`` (runner.api.transport's aiohttp session, which ApiClient
sends with when no proxy is set: what a run uses), ``aiohttp`` (the same
transport under httpx's client: what downloads use), ``httpx`` (httpx's own
stack: httpcore and h11, used when a proxy is set), ``httpx-aiohttp``
(httpx-aiohttp's transport, the bench extra). A copy of the package from before
runner.transport (BENCH_PYTHONPATH) is measured on what it had.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

CHILD = r"""
import resource, sys, anyio, httpx
from runner.api.client import ApiClient
from runner.api.ratelimit import RateLimiter

def stack(tasks, kind):
    # The httpx client, the exchange ApiClient sends with (None: the client's), a name.
    try:  # the hand-written transport, before httpx's own stack replaced it
        from runner.transport import LeanTransport
        return LeanTransport(), None, "runner.transport.LeanTransport"
    except ImportError:
        pass
    from runner.commands import clients
    tls = clients.tls_context(False)
    timeout = httpx.Timeout(60.0)
    if not hasattr(clients, "api_transport"):  # before runner.transport: httpx's own
        http = clients.api_client(tasks, tls, timeout)
        return http, None, type(http._transport).__module__
    limits = httpx.Limits(max_connections=tasks, max_keepalive_connections=tasks)
    if kind == "httpx":
        transport = httpx.AsyncHTTPTransport(verify=tls, limits=limits)
        return httpx.AsyncClient(transport=transport, timeout=timeout), None, "httpx"
    if kind == "httpx-aiohttp":
        from httpx_aiohttp import AiohttpTransport
        transport = AiohttpTransport(verify=tls, limits=limits)
        return httpx.AsyncClient(transport=transport, timeout=timeout), None, kind
    direct = clients.api_transport(tasks, tls)
    http = clients.api_client(tasks, tls, timeout, direct)
    return http, direct.exchange if kind == "direct" else None, kind

async def main(url, requests, tasks, kind):
    http, exchange, name = stack(tasks, kind)
    async with http:
        limiter = RateLimiter(None)
        if exchange is None:
            client = ApiClient(http, base_url=url, api_key="bench", limiter=limiter)
        else:
            client = ApiClient(
                http, base_url=url, api_key="bench", limiter=limiter, exchange=exchange
            )
        async def record(created):
            pass
        created = await client.create({"model": "kling-v2.6-pro", "prompt": "p"}, record)
        for _ in range(50):  # warm: connections made, code paths taken
            await client.poll(created.task_id, created.poll_url)
        def cpu():
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return usage.ru_utime + usage.ru_stime
        async def poller(count):
            for _ in range(count):
                await client.poll(created.task_id, created.poll_url)
        start = cpu()
        async with anyio.create_task_group() as tg:
            for _ in range(tasks):
                tg.start_soon(poller, requests // tasks)
        used = cpu() - start
    print(f"{name} {1000 * used / (requests // tasks * tasks):.4f}")

anyio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
"""
STACKS = ("direct", "aiohttp", "httpx", "httpx-aiohttp")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--label", default="")
    parser.add_argument("--stack", choices=STACKS, default="direct")
    ns = parser.parse_args(argv)
    figures: list[float] = []
    name = "?"
    with tempfile.TemporaryDirectory() as tmp:
        settings = {"task_seconds": [3600, 3600]}
        with harness.sandbox(settings, Path(tmp)) as url:
            for _ in range(ns.repeat):
                argv = [harness.PYTHON, "-c", CHILD, url, str(ns.requests), str(ns.tasks)]
                argv.append(ns.stack)
                run = harness.measure(argv, cwd=Path(tmp), env=harness.api_env())
                if run.code != 0:
                    print(run.stderr, file=sys.stderr)
                    return 1
                name, figure = run.stdout.split()
                figures.append(float(figure))
    result = {
        "label": ns.label or name,
        "stack": name,
        "cpu_ms_per_request": round(statistics.median(figures), 4),
        "range": [round(min(figures), 4), round(max(figures), 4)],
        "requests": ns.requests // ns.tasks * ns.tasks,
        "concurrent": ns.tasks,
        "load": harness.load(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
