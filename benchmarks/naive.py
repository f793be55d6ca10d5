"""The naive baseline: what the provider's sample code does, with a cap on tasks in flight.

    python benchmarks/naive.py BASE_URL --tasks N --concurrency C [--interval 5]

One thread, one ``httpx.Client``: create tasks one after another until C are in
flight, sleep ``interval`` seconds, poll every task in flight once, drop the
final ones, and repeat until every task is final. The request bodies are the
ones the benchmark manifest resolves to (text-to-video, one seed per task).
Prints one line of JSON: tasks completed and failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import httpx

MODEL = "kling-v2.6-pro"


def body(index: int) -> dict[str, object]:
    return {
        "model": MODEL,
        "operation": "text-to-video",
        "prompt": f"Benchmark shot {index}",
        "duration": 5,
        "seed": index,
    }


def run(base_url: str, tasks: int, concurrency: int, interval: float) -> dict[str, int]:
    key = os.environ.get("LEMONDATA_API_KEY", "bench-key")
    headers = {"Authorization": f"Bearer {key}"}
    done = {"completed": 0, "failed": 0}
    in_flight: list[str] = []
    following = 0
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        while following < tasks or in_flight:
            while following < tasks and len(in_flight) < concurrency:
                answer = client.post("/v1/videos/generations", json=body(following))
                answer.raise_for_status()
                in_flight.append(answer.json()["task_id"])
                following += 1
            time.sleep(interval)
            still: list[str] = []
            for task_id in in_flight:
                status = client.get(f"/v1/tasks/{task_id}").json().get("status")
                if status in done:
                    done[status] += 1
                else:
                    still.append(task_id)
            in_flight = still
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--interval", type=float, default=5.0)
    ns = parser.parse_args()
    print(json.dumps(run(ns.base_url, ns.tasks, ns.concurrency, ns.interval)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
