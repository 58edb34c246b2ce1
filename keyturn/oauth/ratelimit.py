"""Rate limits on the token endpoint, backed by the `limits` library.

In-process memory by default; Redis when configured, so that every instance
shares one count.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from keyturn.oauth.errors import SlowDown

log = logging.getLogger(__name__)


class RateLimiter:
    def __init__(self, storage: Storage | None = None) -> None:
        self._limiter = FixedWindowRateLimiter(storage or MemoryStorage())
        self._items: dict[tuple[int, int], RateLimitItem] = {}

    @classmethod
    def from_url(cls, url: str | None) -> RateLimiter:
        """`None` for in-process memory, or a `redis://…` URL shared by all instances."""
        if url is None:
            return cls()
        storage = storage_from_string("async+" + url, implementation="redispy")
        if not isinstance(storage, Storage):
            raise ValueError(f"{url!r} does not name an async rate-limit storage")
        return cls(storage)

    def _item(self, amount: int, minutes: int) -> RateLimitItem:
        item = self._items.get((amount, minutes))
        if item is None:
            item = self._items[(amount, minutes)] = RateLimitItemPerMinute(amount, minutes)
        return item

    async def retry_after(self, amount: int, minutes: int, *key: str) -> int | None:
        """Seconds until `key` may try again, or None if it is under its limit now."""
        item = self._item(amount, minutes)
        try:
            if await self._limiter.test(item, *key):
                return None
            stats = await self._limiter.get_window_stats(item, *key)
        except Exception:
            log.warning("rate-limit storage failed; allowing the request", exc_info=True)
            return None
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def count(self, amount: int, minutes: int, *key: str) -> None:
        """Count one event (a failed sign-in, say) against `key` without deciding anything."""
        try:
            await self._limiter.hit(self._item(amount, minutes), *key)
        except Exception:
            log.warning("rate-limit storage failed; not counted", exc_info=True)

    async def check(self, per_minute: int, *key: str) -> None:
        """Count one request against `key`; raise `SlowDown` when over the limit."""
        item = self._item(per_minute, 1)
        try:
            if await self._limiter.hit(item, *key):
                return
        except Exception:
            # Fail open: a rate-limit store that is down must not take the
            # token endpoint down with it.
            log.warning("rate-limit storage failed; allowing the request", exc_info=True)
            return
        stats = await self._limiter.get_window_stats(item, *key)
        raise SlowDown(math.ceil(stats.reset_time - time.time()), detail=f"rate limit on {key[0]}")
