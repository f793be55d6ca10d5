"""The rate limiter, its pace and the poll schedule, on simulated clocks.

Behaviour, not timing: a simulated minute of requests through one limiter, with
a server that answers some of them 429, says what the pace does."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import httpx
import pytest

from runner.api.pace import SEVERAL, budget
from runner.api.ratelimit import PATIENCE, SHARED_AFTER, RateLimiter, speculative
from runner.run.polling import LEARN_FROM, PollPlan, Starts
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


class VirtualClock:
    """Simulated time for many tasks: it jumps to the next wake-up once every task waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        event = anyio.Event()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._seq), event))
        await event.wait()

    async def drive(self, until: float) -> None:
        while self.now < until:
            await anyio.wait_all_tasks_blocked()
            if not self._sleepers:
                return
            when, _, event = heapq.heappop(self._sleepers)
            self.now = max(self.now, when)
            event.set()
            for _ in range(10):  # let the woken task run to its next wait
                await anyio.lowlevel.checkpoint()


class Bucket:
    """A server's limit: ``rate`` a second, bursts of ``rate``; ``take`` is the Retry-After."""

    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.at = rate, rate, 0.0

    def take(self, now: float) -> float:
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class Run:
    """What a simulated run saw: answers, paces at each token, each task's tokens and 429s."""

    accepted: int = 0
    rejected: int = 0
    paces: list[tuple[float, float]] = field(default_factory=list)  # (when, pace)
    tokens: dict[int, list[float]] = field(default_factory=dict)
    asked: dict[int, list[tuple[float, float]]] = field(default_factory=dict)  # (when, wait)

    @property
    def share_429(self) -> float:
        return self.rejected / (self.accepted + self.rejected)

    def mean_pace(self, after: float = 0.0) -> float:
        paces = [p for t, p in self.paces if t >= after]
        return sum(paces) / len(paces)


Answer = Callable[[float, random.Random], float]  # a Retry-After, or 0: accepted


def simulate(rate: float, answer: Answer, *, tasks: int, seconds: float, seed: int = 1) -> Run:
    """``tasks`` tasks sending one request after another through one limiter, each
    answered after 50-150 ms of latency, for ``seconds`` of simulated time."""
    clock, rng, run = VirtualClock(), random.Random(seed), Run()
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)

    async def task(number: int) -> None:
        while clock.now < seconds:
            await limiter.acquire()
            run.tokens.setdefault(number, []).append(clock.now)
            run.paces.append((clock.now, limiter.rate or 0.0))
            await clock.sleep(rng.uniform(0.05, 0.15))
            wait = answer(clock.now, rng)
            if wait:
                run.rejected += 1
                run.asked.setdefault(number, []).append((clock.now, wait))
                limiter.pause(wait)
            else:
                run.accepted += 1
                limiter.succeeded()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for number in range(tasks):
                tg.start_soon(task, number)
            await clock.drive(seconds)
            tg.cancel_scope.cancel()

    anyio.run(main)
    return run


def noise(share: float, retry_after: float = 1.0) -> Answer:
    """A gateway answering a random ``share`` of requests 429, whatever the pace."""
    return lambda now, rng: retry_after if rng.random() < share else 0.0


@pytest.mark.parametrize(("rate", "tasks"), [(2, 6), (10, 6), (20, 20), (100, 30)])
def test_random_429s_leave_the_pace_near_the_configured_rate(rate: float, tasks: int) -> None:
    for seed in (1, 2):
        run = simulate(rate, noise(0.06), tasks=tasks, seconds=60, seed=seed)
        assert 0.03 < run.share_429 < 0.12  # the noise was there
        assert run.mean_pace() > 0.8 * rate


@pytest.mark.parametrize("configured", [30, 40])
def test_a_server_limit_below_the_configured_rate_is_found_and_held(configured: float) -> None:
    server = Bucket(20)
    run = simulate(configured, lambda now, rng: server.take(now), tasks=30, seconds=60)
    assert run.accepted / 60 >= 0.9 * server.rate
    assert run.share_429 <= 0.02
    assert 0.85 * server.rate <= run.mean_pace(after=20) <= 1.1 * server.rate


def test_a_limit_found_from_noise_is_outgrown() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    for _ in range(SEVERAL):  # a bunch of 429s: taken for a limit
        clock.now += 0.05
        limiter.pause(0.5)
    assert limiter.limit is not None and limiter.rate is not None and limiter.rate < 10
    for _ in range(1200):  # two minutes of clean answers: the pace is back
        clock.now += 0.1
        limiter.succeeded()
    assert limiter.rate == 10 and limiter.limit is None


def test_retry_after_is_honoured_for_every_request() -> None:
    server = Bucket(5)

    def answer(now: float, rng: random.Random) -> float:
        return server.take(now) or (rng.choice([0.5, 1.0, 3.0]) if rng.random() < 0.1 else 0.0)

    run = simulate(40, answer, tasks=12, seconds=30)
    assert run.rejected > 15
    assert run.mean_pace(after=10) > 0.7 * server.rate  # noise does not wear the limit down
    for number, asked in run.asked.items():
        for when, wait in asked:
            later = [t for t in run.tokens[number] if t > when]
            assert not later or later[0] >= when + wait - 1e-9


def test_a_long_retry_after_holds_every_request() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    take(limiter, 1, clock)
    limiter.pause(SHARED_AFTER + 1)  # no one sends before it passes
    assert limiter.pauses == 1
    (after,) = take(limiter, 1, clock)
    assert after == pytest.approx(SHARED_AFTER + 1)
    limiter.pause(1.0)  # a short one, alone: only its own request waits
    assert limiter.pauses == 1 and limiter.rate == 10


def test_rate_limit_headers_cap_the_pace_until_the_reset() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep, wall=lambda: 1_000_000_000.0)
    limiter.succeeded(httpx.Headers({"X-RateLimit-Remaining": "20", "X-RateLimit-Reset": "10"}))
    assert limiter.rate == pytest.approx(2.0)  # 20 requests left for 10 s
    clock.now = 10.5
    assert limiter.rate == 10
    unix_reset = httpx.Headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1000000004"})
    limiter.succeeded(unix_reset)  # none left: every request waits for the reset
    (after,) = take(limiter, 1, clock)
    assert after == pytest.approx(14.5)
    limiter.pause(0.1, unix_reset)  # a 429 saying none is left: the pace is too high
    assert limiter.rate is not None and limiter.rate < 10 and limiter.pauses == 2


def test_budget_ignores_unusable_headers() -> None:
    def headers(remaining: str, reset: str | None = None) -> httpx.Headers:
        both = {"X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": reset}
        return httpx.Headers({k: v for k, v in both.items() if v is not None})

    assert budget(headers("5"), 0.0) is None
    assert budget(headers("x", "1"), 0.0) is None
    assert budget(headers("5", "nan"), 0.0) is None
    assert budget(headers("5", "0"), 0.0) is None
    assert budget(headers("-1", "3"), 0.0) is None
    assert budget(headers("5", "3"), 0.0) == (5, 3.0)
    assert budget(headers("5", "1000000003"), 1_000_000_000.0) == (5, 3.0)


def test_speculative_polls_yield_to_urgent_requests() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(1, clock=clock, sleep=clock.sleep)
    order: list[str] = []

    async def request(name: str, early: bool, at: float) -> None:
        await clock.sleep(at)
        speculative(early)
        await limiter.acquire()
        order.append(name)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(request, "first", False, 0.0)
            for n in range(3):
                tg.start_soon(request, f"early{n}", True, 0.1 + n / 100)
            for n in range(4):
                tg.start_soon(request, f"due{n}", False, 0.2 + n / 100)
            tg.start_soon(request, "late", False, 5.0)
            await clock.drive(30)

    anyio.run(main)
    # One a second: "early0" finds the budget free and goes; then the polls that
    # are due go first, and early ones wait at most PATIENCE seconds more than in
    # arrival order (here: they still go before "late").
    assert order[:6] == ["first", "early0", "due0", "due1", "due2", "due3"]
    assert order[6:] == ["early1", "early2", "late"]
    assert PATIENCE < 5.0


def test_a_speculative_poll_yields_no_longer_than_its_own_delay() -> None:
    """A poll put off 0.3 s yields 0.3 s at most, not PATIENCE: a task that ended
    meanwhile is seen within about one poll interval while the budget binds."""
    clock = VirtualClock()
    limiter = RateLimiter(1, clock=clock, sleep=clock.sleep)
    order: list[str] = []

    async def request(name: str, patience: float | None, at: float) -> None:
        await clock.sleep(at)
        speculative(patience is not None, patience if patience is not None else 0.0)
        await limiter.acquire()
        order.append(name)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(request, "first", None, 0.0)
            tg.start_soon(request, "short", 0.3, 0.1)  # yields until 0.4
            tg.start_soon(request, "long", 99.0, 0.1)  # yields PATIENCE at most
            tg.start_soon(request, "due", None, 0.5)
            await clock.drive(30)

    anyio.run(main)
    assert order == ["first", "short", "due", "long"]


def test_a_first_poll_yields_for_its_own_delay() -> None:
    from runner.api import ratelimit

    async def main() -> None:
        assert PollPlan(initial=0.2, maximum=30.0, submitted=0.0).first() == 0.2
        assert ratelimit._SPECULATIVE.get() == 0.2

    anyio.run(main)


def test_a_cancelled_waiter_leaves_the_queue() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(1, clock=clock, sleep=clock.sleep)
    got: list[tuple[str, float]] = []
    scopes: dict[str, anyio.CancelScope] = {}

    async def request(name: str, at: float) -> None:
        await clock.sleep(at)
        with anyio.CancelScope() as scope:
            scopes[name] = scope
            await limiter.acquire()
            got.append((name, clock.now))

    async def cancel(name: str, at: float) -> None:
        await clock.sleep(at)
        scopes[name].cancel()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for n, name in enumerate("abcd"):
                tg.start_soon(request, name, n / 100)
            tg.start_soon(cancel, "c", 0.5)  # "c" waits at the head of the queue
            await clock.drive(10)

    anyio.run(main)
    assert got == [("a", 0.0), ("b", 0.01), ("d", 1.0)]


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


def test_early_polls_are_speculative_and_polls_aimed_at_the_end_are_not() -> None:
    from runner.api import ratelimit

    def marked() -> bool:
        return ratelimit._SPECULATIVE.get()

    async def main() -> None:
        plan = PollPlan(initial=0.2, maximum=30.0, submitted=0.0)
        plan.first()
        assert marked()  # the task has hardly begun
        plan.next(0.5, 20)
        assert marked()  # a hop for a second reading
        plan.next(1.0, 40)
        assert not marked()  # aimed just past the predicted end
        plan.next(2.6, None)
        assert not marked()  # no progress to go by: it may end any time

    anyio.run(main)
