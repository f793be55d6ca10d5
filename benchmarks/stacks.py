"""CPU per API request of the runner's HTTP stack, without start-up or scheduling.

    .venv/bin/python benchmarks/stacks.py                       # the stack of this tree
    BENCH_PYTHONPATH=/tmp/old .venv/bin/python benchmarks/stacks.py --label lean

Serves ``vidbatch sandbox`` in a process of its own, then, in a child process
(where BENCH_PYTHONPATH puts another copy of the package first, as for
benchmarks/run.py), creates one task and polls it ``--requests`` times from
``--tasks`` concurrent pollers through ``ApiClient``, the way a run does. The
child's own CPU (user + sys, from getrusage) over the polls alone, divided by
the requests, is the figure: the HTTP stack plus the client's Python above it.
The sandbox's CPU is in the other process and not counted. Repeated
``--repeat`` times; the median is printed with the range.
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

def stack(tasks):
    try:  # the hand-written transport, before httpx's own stack replaced it
        from runner.transport import LeanTransport
        return LeanTransport(), "runner.transport.LeanTransport"
    except ImportError:
        from runner.commands import clients
        http = clients.api_client(tasks, clients.tls_context(False), httpx.Timeout(60.0))
        return http, type(http._transport).__module__

async def main(url, requests, tasks):
    http, name = stack(tasks)
    async with http:
        client = ApiClient(http, base_url=url, api_key="bench", limiter=RateLimiter(None))
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

anyio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--label", default="")
    ns = parser.parse_args(argv)
    figures: list[float] = []
    name = "?"
    with tempfile.TemporaryDirectory() as tmp:
        settings = {"task_seconds": [3600, 3600]}
        with harness.sandbox(settings, Path(tmp)) as url:
            for _ in range(ns.repeat):
                argv = [harness.PYTHON, "-c", CHILD, url, str(ns.requests), str(ns.tasks)]
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
