"""Refresh chains under load, for fault tests: does every chain survive an outage?

A chain is one user's refresh token, refreshed again and again with the newest
token each answer gave, the way an SDK would. While the database is down or
failing over the chain retries the same token; a chain is *lost* when keyturn
answers `invalid_grant` (the token it holds no longer works, say because an
answered refresh was rolled back, or a retry fell outside the grace window).
Every answer is counted by kind, and the times of successful refreshes give the
longest stretch without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx


@dataclass
class Chain:
    token: str
    auth: tuple[str, str]
    refreshes: int = 0
    lost: str | None = None  # the invalid_grant reason that ended it


@dataclass
class Tally:
    answers: Counter[str] = field(default_factory=Counter)  # "200", "503", "connect", …
    successes: list[float] = field(default_factory=list)  # monotonic times
    unexpected: list[str] = field(default_factory=list)  # 5xx other than 503, with bodies

    def longest_gap_after(self, moment: float) -> float:
        """Seconds from `moment` to the first success after it, or to the next after any
        longer pause: the longest time the whole system answered no refresh."""
        after = sorted(t for t in self.successes if t >= moment)
        if not after:
            return float("inf")
        gaps = [after[0] - moment] + [b - a for a, b in itertools.pairwise(after)]
        return max(gaps)


class ChainDriver:
    """Drive `chains` against `base_urls` (round robin) until `stop()`.

    `pause` between a chain's refreshes keeps the load steady on a small machine;
    `retry_pause` after a 503 or a refused connection is deliberately short (shorter
    than Retry-After) so that retries through an outage are many: they must neither
    fail nor count against the token's rate limit.
    """

    def __init__(
        self,
        chains: list[Chain],
        base_urls: list[str],
        *,
        pause: float = 0.5,
        retry_pause: float = 0.1,
    ) -> None:
        self.chains = chains
        self.base_urls = base_urls
        self.pause = pause
        self.retry_pause = retry_pause
        self.tally = Tally()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._drive(chain, self.base_urls[i % len(self.base_urls)]))
            for i, chain in enumerate(self.chains)
        ]

    async def stop(self) -> None:
        self._stopping.set()
        await asyncio.gather(*self._tasks)

    @property
    def lost(self) -> list[Chain]:
        return [chain for chain in self.chains if chain.lost is not None]

    async def _drive(self, chain: Chain, base_url: str) -> None:
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=base_url, timeout=15, limits=limits) as http:
            while not self._stopping.is_set() and chain.lost is None:
                wait = await self._refresh_once(http, chain)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=wait)

    async def _refresh_once(self, http: httpx.AsyncClient, chain: Chain) -> float:
        try:
            answer = await http.post(
                "/oauth/token",
                data={"grant_type": "refresh_token", "refresh_token": chain.token},
                auth=chain.auth,
            )
        except httpx.TransportError as error:  # an instance restarting, say
            self.tally.answers[f"transport:{type(error).__name__}"] += 1
            return self.retry_pause
        self.tally.answers[str(answer.status_code)] += 1
        if answer.status_code == 200:
            chain.token = answer.json()["refresh_token"]
            chain.refreshes += 1
            self.tally.successes.append(time.monotonic())
            return self.pause
        if answer.status_code == 400 and answer.json().get("error") == "invalid_grant":
            chain.lost = str(answer.json().get("reason"))
            return 0.0
        if answer.status_code >= 500 and answer.status_code != 503:
            self.tally.unexpected.append(f"{answer.status_code} {answer.text[:200]}")
        return self.retry_pause
