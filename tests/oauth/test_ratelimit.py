"""The in-process rate limiter, moved through the injected clock instead of sleeping."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as redis
from limits.aio.storage import Storage
from limits.storage import storage_from_string

from keyturn.oauth.clock import FrozenClock
from keyturn.oauth.errors import SlowDown
from keyturn.oauth.ratelimit import RateLimiter, SharedCounter
from keyturn.store.base import StoreUnavailable
from tests.http.test_rate_limits import require_redis


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(start=1_800_000_000.0)  # on a minute boundary


async def test_the_limit_holds_within_a_window_and_resets_with_the_next(
    clock: FrozenClock,
) -> None:
    limiter = RateLimiter(clock=clock)
    for _ in range(5):
        await limiter.check(5, "refresh", "grant-a")
    clock.advance(59)
    with pytest.raises(SlowDown) as refused:
        await limiter.check(5, "refresh", "grant-a")
    assert refused.value.headers["Retry-After"] == "1"
    clock.advance(1)
    await limiter.check(5, "refresh", "grant-a")


async def test_keys_count_separately(clock: FrozenClock) -> None:
    limiter = RateLimiter(clock=clock)
    await limiter.check(1, "refresh", "grant-a", "10.0.0.1")
    await limiter.check(1, "refresh", "grant-a", "10.0.0.2")
    with pytest.raises(SlowDown):
        await limiter.check(1, "refresh", "grant-a", "10.0.0.1")


async def test_failures_back_off_for_the_rest_of_a_long_window(clock: FrozenClock) -> None:
    limiter = RateLimiter(clock=clock)
    for _ in range(3):
        assert await limiter.take(3, 15, "signin-account", "ann@example.com") is None
    assert await limiter.take(3, 15, "signin-account", "ann@example.com") == 15 * 60
    clock.advance(10 * 60)
    assert await limiter.take(3, 15, "signin-account", "ann@example.com") == 5 * 60
    clock.advance(5 * 60)
    assert await limiter.take(3, 15, "signin-account", "ann@example.com") is None


async def test_stale_keys_are_dropped_when_a_window_rolls_over(clock: FrozenClock) -> None:
    limiter = RateLimiter(clock=clock)
    for index in range(100):
        await limiter.check(10, "refresh", f"grant-{index}")
    clock.advance(120)
    await limiter.check(10, "refresh", "grant-new")
    windows = limiter._counter._windows  # type: ignore[attr-defined]
    assert list(windows) == [(1, "refresh/grant-new")]


async def test_a_short_window_rolling_over_keeps_the_counts_of_a_long_one(
    clock: FrozenClock,
) -> None:
    """A one-minute limit (the token endpoint's) must not sweep away a quarter of an
    hour of failed sign-ins: each window length rolls over on its own."""
    limiter = RateLimiter(clock=clock)
    for _ in range(10):
        assert await limiter.take(10, 15, "signin-account", "ann@example.com") is None
    for minute in range(5):
        clock.advance(60)
        await limiter.check(30, "refresh", f"grant-{minute}")  # a new one-minute window
        assert await limiter.take(10, 15, "signin-account", "ann@example.com")


async def test_attempts_are_counted_before_they_are_made(clock: FrozenClock) -> None:
    limiter = RateLimiter(clock=clock)
    taken = await asyncio.gather(*(limiter.take(10, 15, "code", "ann") for _ in range(50)))
    assert taken.count(None) == 10  # the other 40 wait, however they raced
    for _ in range(10):
        assert await limiter.take(10, 15, "code", "bob") is None
    await limiter.give_back(10, 15, "code", "bob")  # one of the ten was right after all
    assert await limiter.take(10, 15, "code", "bob") is None
    assert await limiter.take(10, 15, "code", "bob") is not None


async def counted_outage(limiter: RateLimiter, key: str) -> None:
    with pytest.raises(StoreUnavailable):
        async with limiter.counted(2, "refresh", key):
            raise StoreUnavailable("the database is failing over")


async def assert_outages_are_not_counted(limiter: RateLimiter, key: str) -> None:
    for _ in range(5):  # a client retrying through a failover
        await counted_outage(limiter, key)
    async with limiter.counted(2, "refresh", key):
        pass
    with pytest.raises(ValueError):  # any other failure counts: the request happened
        async with limiter.counted(2, "refresh", key):
            raise ValueError("a bad request")
    with pytest.raises(SlowDown):
        async with limiter.counted(2, "refresh", key):
            pass


async def test_requests_that_failed_for_an_outage_are_not_counted(clock: FrozenClock) -> None:
    await assert_outages_are_not_counted(RateLimiter(clock=clock), "grant-a")


async def test_outages_are_not_counted_in_redis_either() -> None:
    url = await require_redis()
    pool = redis.ConnectionPool.from_url(url)  # ours, so the test can close it
    options: dict[str, Any] = {"connection_pool": pool}
    storage = storage_from_string("async+" + url, implementation="redispy", **options)
    assert isinstance(storage, Storage)
    try:
        limiter = RateLimiter(SharedCounter(storage))
        await assert_outages_are_not_counted(limiter, f"grant-{uuid.uuid4().hex}")
    finally:
        await pool.disconnect()
