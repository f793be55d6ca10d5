"""The rate limiter and the poll schedule, on a clock the test moves by hand."""

from __future__ import annotations

import random

import anyio
import pytest

from runner.polling import LEARN_FROM, PollPlan, Starts
from runner.ratelimit import RateLimiter
from tests.netguard import no_network  # noqa: F401


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()


def take(limiter: RateLimiter, count: int, clock: FakeClock) -> list[float]:
    times: list[float] = []

    async def main() -> None:
        for _ in range(count):
            await limiter.acquire()
            times.append(clock.now)

    anyio.run(main)
    return times


def test_requests_are_spaced_by_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)
    times = take(limiter, 5, clock)
    assert times == pytest.approx([0.0, 0.0, 0.25, 0.5, 0.75])


def test_unlimited_never_waits() -> None:
    clock = FakeClock()
    assert take(RateLimiter(None, clock=clock, sleep=clock.sleep), 50, clock) == [0.0] * 50


def test_pause_holds_every_request_and_slows_down() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    take(limiter, 1, clock)
    limiter.pause(3.0)
    assert limiter.rate == pytest.approx(7.0)  # no history yet: a blind cut
    limiter.pause(2.0)  # in the same bunch of 429s: no second cut, no shorter pause
    assert limiter.rate == pytest.approx(7.0)
    (after,) = take(limiter, 1, clock)
    assert after == pytest.approx(3.0)


def test_after_429s_the_pace_settles_under_what_the_server_accepted() -> None:
    clock = FakeClock()
    limiter = RateLimiter(40, clock=clock, sleep=clock.sleep)
    take(limiter, 1, clock)
    clock.now = 10.0
    limiter.pause(0.05)
    first = limiter.rate
    for step in range(40):  # the server lets 20 a second through
        clock.now = 10.0 + step * 0.05
        limiter.succeeded()
    clock.now = 12.0
    limiter.pause(0.05)
    assert limiter.rate is not None and first is not None
    assert limiter.rate == pytest.approx(20 * 0.95, rel=0.05)
    for _ in range(100):
        limiter.succeeded()
    assert limiter.rate == pytest.approx(19.0 + 100 * 40 * 0.0005, rel=0.05)


def test_poll_plan_backs_off_without_progress() -> None:
    random.seed(1)
    plan = PollPlan(initial=1.0, maximum=4.0, submitted=0.0)
    assert plan.first() == 1.0
    delays = [plan.next(1.0 + i, None) for i in range(5)]
    assert delays[0] == pytest.approx(1.5, rel=0.11)
    assert delays[1] == pytest.approx(2.25, rel=0.11)
    assert all(d <= 4.0 * 1.1 for d in delays)
    assert delays[-1] == pytest.approx(4.0, rel=0.11)


def test_poll_plan_aims_just_past_the_predicted_end() -> None:
    random.seed(2)
    plan = PollPlan(initial=0.2, maximum=30.0, submitted=0.0)
    plan.first()
    assert plan.next(0.2, 0) == pytest.approx(0.3, rel=0.11)  # queued: back off
    hop = plan.next(0.5, 20)  # one reading: a short hop, at most as long as it ran
    assert 0.05 <= hop <= 0.5 * 1.02
    end = plan.next(1.0, 40)  # two readings: 40% per second from here
    assert end == pytest.approx(59.5 / 40 * 1.02 + 0.01, rel=0.03)


def test_poll_plan_never_waits_past_the_maximum() -> None:
    plan = PollPlan(initial=0.2, maximum=2.0, submitted=0.0)
    plan.first()
    plan.next(0.2, 1)
    assert plan.next(10.0, 2) <= 2.0 * 1.02


def test_first_poll_waits_until_most_tasks_of_the_run_had_begun() -> None:
    starts = Starts()
    plan = PollPlan(initial=0.2, maximum=2.0, submitted=100.0, starts=starts)
    assert plan.first() == 0.2  # nothing learned yet
    plan.next(100.2, None)  # queued
    plan.next(100.5, 10)
    plan.next(101.0, 35)  # 50% per second: began at 100.5 - 10.5 / 50 = 100.29
    assert list(starts._seen) == [pytest.approx(0.29)]
    for tenth in range(1, 11):  # ten more tasks that began 0.1 .. 1.0 s after their create
        starts.add(tenth / 10)
    assert LEARN_FROM <= 11
    later = PollPlan(initial=0.2, maximum=2.0, submitted=0.0, starts=starts)
    assert later.first() == pytest.approx(0.9)  # 90% of those had begun by then
    assert later.next(0.9, None) == pytest.approx(0.3, rel=0.11)  # still queued: back off
    slow = Starts()
    for _ in range(LEARN_FROM):
        slow.add(60.0)
    assert PollPlan(0.2, 2.0, 0.0, starts=slow).first() == 2.0  # never past the maximum
    fast = Starts()
    for _ in range(LEARN_FROM):
        fast.add(-0.5)  # a rough slope may put the start before the create
    assert PollPlan(0.2, 2.0, 0.0, starts=fast).first() == 0.2  # never before initial
