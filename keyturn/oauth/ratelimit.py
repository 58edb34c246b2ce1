"""Rate limits on the token endpoint and the sign-in forms.

Fixed windows. In one process the counts live in a dict; across instances they
live in Redis through the `limits` library. (limits' own in-memory storage
sweeps every key on a timer, which cost 40% of a worker's CPU at one key per
active grant in a profile under load; here a window rolls over lazily and a
stale key is dropped once per window.)
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from keyturn.oauth.clock import Clock, SystemClock
from keyturn.oauth.errors import SlowDown
from keyturn.store.base import StoreUnavailable

log = logging.getLogger(__name__)


class Counter(Protocol):
    async def hit(self, amount: int, minutes: int, key: str) -> tuple[bool, float]:
        """Count one event; return (still within the limit, window reset time)."""
        ...

    async def give_back(self, amount: int, minutes: int, key: str) -> None:
        """Uncount one event of the current window (one that turned out not to count)."""
        ...


class InProcessCounter:
    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        # (window length, key) -> (window number, count); windows of different lengths
        # roll over at different times, so each length is swept on its own.
        self._windows: dict[tuple[int, str], tuple[int, int]] = {}
        self._swept: dict[int, int] = {}  # window length -> the window last swept

    def _window(self, minutes: int) -> tuple[int, float]:
        length = 60 * minutes
        number = int(self._clock.now() // length)
        return number, (number + 1) * length

    def _sweep(self, minutes: int, number: int) -> None:
        if self._swept.get(minutes) == number:
            return
        self._swept[minutes] = number
        self._windows = {
            k: v for k, v in self._windows.items() if k[0] != minutes or v[0] >= number
        }

    async def hit(self, amount: int, minutes: int, key: str) -> tuple[bool, float]:
        number, resets = self._window(minutes)
        self._sweep(minutes, number)
        window, count = self._windows.get((minutes, key), (number, 0))
        count = count + 1 if window == number else 1
        self._windows[(minutes, key)] = (number, count)
        return count <= amount, resets

    async def give_back(self, amount: int, minutes: int, key: str) -> None:
        number, _ = self._window(minutes)
        window, count = self._windows.get((minutes, key), (number, 0))
        if window == number and count > 0:
            self._windows[(minutes, key)] = (number, count - 1)


class SharedCounter:
    """Counts in Redis (or any `limits` storage), shared by every instance."""

    def __init__(self, storage: Storage) -> None:
        self._limiter = FixedWindowRateLimiter(storage)
        self._items: dict[tuple[int, int], RateLimitItem] = {}

    def _item(self, amount: int, minutes: int) -> RateLimitItem:
        item = self._items.get((amount, minutes))
        if item is None:
            item = self._items[(amount, minutes)] = RateLimitItemPerMinute(amount, minutes)
        return item

    async def hit(self, amount: int, minutes: int, key: str) -> tuple[bool, float]:
        item = self._item(amount, minutes)
        allowed = await self._limiter.hit(item, key)
        if allowed:
            return True, 0.0
        return False, (await self._limiter.get_window_stats(item, key)).reset_time

    async def give_back(self, amount: int, minutes: int, key: str) -> None:
        # A hit of cost -1 is an atomic decrement of the window's counter (INCRBY -1).
        await self._limiter.hit(self._item(amount, minutes), key, cost=-1)


class RateLimiter:
    """Counts on the injected clock (in process; Redis keeps its own time)."""

    def __init__(self, counter: Counter | None = None, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._counter: Counter = counter or InProcessCounter(self._clock)

    @classmethod
    def from_url(cls, url: str | None, clock: Clock | None = None) -> RateLimiter:
        """`None` for in-process counts, or a `redis://…` URL shared by all instances."""
        if url is None:
            return cls(clock=clock)
        storage = storage_from_string("async+" + url, implementation="redispy")
        if not isinstance(storage, Storage):
            raise ValueError(f"{url!r} does not name an async rate-limit storage")
        return cls(SharedCounter(storage), clock)

    async def check(self, per_minute: int, *key: str) -> None:
        """Count one request against `key`; raise `SlowDown` when over the limit."""
        try:
            allowed, resets = await self._counter.hit(per_minute, 1, "/".join(key))
        except Exception:
            # Fail open: a rate-limit store that is down must not take the
            # token endpoint down with it.
            log.warning("rate-limit storage failed; allowing the request", exc_info=True)
            return
        if not allowed:
            raise SlowDown(math.ceil(resets - self._clock.now()), detail=f"rate limit on {key[0]}")

    @asynccontextmanager
    async def counted(self, per_minute: int, *key: str) -> AsyncIterator[None]:
        """`check`, for work inside the block: when the block fails for an outage
        (the database is down), the request did not happen and is not counted, so a
        client retrying through a failover does not run into its own limit."""
        await self.check(per_minute, *key)
        try:
            yield
        except StoreUnavailable:
            try:
                await self._counter.give_back(per_minute, 1, "/".join(key))
            except Exception:
                log.warning("rate-limit storage failed; not given back", exc_info=True)
            raise

    async def allows(self, amount: int, minutes: int, *key: str) -> bool:
        """Count one event against `key`; whether it is within `amount` (fails closed:
        for optional work, such as writing an event, not for requests)."""
        try:
            allowed, _ = await self._counter.hit(amount, minutes, "/".join(key))
        except Exception:
            log.warning("rate-limit storage failed; not counted", exc_info=True)
            return False
        return allowed

    async def crossed(self, amount: int, minutes: int, *key: str) -> bool:
        """Count one event against `key`; True once per window, at the first event over
        `amount` (a second counter marks that the crossing was reported)."""
        joined = "/".join(key)
        try:
            allowed, _ = await self._counter.hit(amount, minutes, joined)
            if allowed:
                return False
            first, _ = await self._counter.hit(1, minutes, "crossed/" + joined)
            return first
        except Exception:
            log.warning("rate-limit storage failed; not counted", exc_info=True)
            return False

    async def take(self, amount: int, minutes: int, *key: str) -> int | None:
        """Count an attempt before making it: None if it is within `amount`, else the
        seconds until the window ends. Counting first means concurrent attempts cannot
        all pass a check made before any of them was counted. Fails open."""
        try:
            allowed, resets = await self._counter.hit(amount, minutes, "/".join(key))
        except Exception:
            log.warning("rate-limit storage failed; allowing the attempt", exc_info=True)
            return None
        return None if allowed else max(1, math.ceil(resets - self._clock.now()))

    async def give_back(self, amount: int, minutes: int, *key: str) -> None:
        """Uncount an attempt `take` counted (it succeeded, so it was no failure)."""
        try:
            await self._counter.give_back(amount, minutes, "/".join(key))
        except Exception:
            log.warning("rate-limit storage failed; not given back", exc_info=True)
