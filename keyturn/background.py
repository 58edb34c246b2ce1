"""Work a serving process does besides answering requests: purging and key reloads.

Owned by the application's lifespan, not by any endpoint: `start()` when the
process starts serving, `stop()` when it shuts down. Each loop is jittered so
that many workers and instances do not act at the same moment, and a failed
round is logged and retried at the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

from keyturn.oauth.context import Context
from keyturn.store.base import StoreUnavailable

log = logging.getLogger("keyturn.background")

GC_BATCH = 1000
GC_REST = 3.0  # seconds of rest for each second a purge batch took
DAY = 24 * 3600
GC_KEEP_SECONDS = 30 * DAY  # revoked grants and events stay 30 days (event_retention_days)
KEY_RELOAD_SECONDS = 60
# A purge lease lasts this many intervals: the holder renews it every round (rounds
# are jittered by up to a fifth), and if it dies another worker takes over after it.
GC_LEASE_ROUNDS = 1.5


async def collect_garbage(ctx: Context, *, keep_seconds: float = GC_KEEP_SECONDS) -> dict[str, int]:
    """Purge expired and revoked rows in bounded batches until every scan comes back short.

    Each batch goes on where the one before stopped, and after each batch the purge
    rests GC_REST times as long as the batch took: a backlog of a million expired
    grants is worked off in under a minute while requests keep most of the
    database's time (a purge at full speed halved the refresh rate beside it).
    """
    total: dict[str, int] = {}
    resume: dict[str, float] | None = None
    while True:
        started = time.monotonic()
        batch = await ctx.store.purge(
            ctx.clock.now(), batch=GC_BATCH, keep_seconds=keep_seconds, resume=resume
        )
        for name, count in batch.deleted.items():
            total[name] = total.get(name, 0) + count
        if max(batch.deleted.values()) < GC_BATCH:
            return total
        resume = batch.resume
        await asyncio.sleep(GC_REST * (time.monotonic() - started))


def process_identity() -> str:
    """Who holds a lease: this host and process (and a nonce, for a reused pid)."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


class BackgroundWork:
    def __init__(
        self,
        ctx: Context,
        *,
        gc_interval: float,
        keep_seconds: float = GC_KEEP_SECONDS,
        holder: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.gc_interval = gc_interval
        self.keep_seconds = keep_seconds
        self.holder = holder or process_identity()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._every(self.gc_interval, self._purge, "background purge")),
            # Keys rotated by another instance or `keyturn keys rotate`.
            asyncio.create_task(
                self._every(KEY_RELOAD_SECONDS, self.ctx.keys.reload, "key reload")
            ),
        ]

    def every(self, seconds: float, work: Callable[[], Awaitable[object]], name: str) -> None:
        """One more loop, stopped with the others (the HTTP layer's metric gauges)."""
        self._tasks.append(asyncio.create_task(self._every(seconds, work, name)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _purge(self) -> None:
        # Once per deployment: every worker of every instance tries, the lease holder
        # purges (and renews); another takes over if it stops renewing.
        lease = GC_LEASE_ROUNDS * self.gc_interval
        if await self.ctx.store.claim_lease("gc", self.holder, self.ctx.clock.now(), lease):
            await collect_garbage(self.ctx, keep_seconds=self.keep_seconds)

    @staticmethod
    async def _every(seconds: float, work: Callable[[], Awaitable[object]], name: str) -> None:
        waiting_for_database = False
        while True:
            await asyncio.sleep(seconds * random.uniform(0.8, 1.2))
            try:
                await work()
            except StoreUnavailable as exc:
                # An outage or a failover: said once, not a traceback every round.
                if not waiting_for_database:
                    log.info("%s waits for the database: %s", name, exc)
                waiting_for_database = True
                continue
            except Exception:
                log.exception("%s failed; will retry", name)
            if waiting_for_database:
                log.info("%s runs again", name)
                waiting_for_database = False
