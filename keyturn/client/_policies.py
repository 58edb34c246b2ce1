"""The managers' tunables, grouped by concern into small frozen policies.

Each policy has a flat keyword twin on the managers' constructors (the
original API, still supported): `cache_seconds=2.0` means
`refresh=RefreshPolicy(cache_seconds=2.0)`. Giving both a policy and one of
its keywords is refused rather than guessed at.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from keyturn.client.stores._base import LEASE_SECONDS

P = TypeVar("P", "RefreshPolicy", "RetryPolicy", "LockPolicy")


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    """When tokens are refreshed and how long a read record is trusted in memory.

    `background`: a due but still valid token is served at once while a task
    refreshes it (keyword `background_refresh=`). `cache_seconds`: how long a
    record read from the store answers without reading it again.
    """

    background: bool = False
    cache_seconds: float = 1.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Calls to the token and revocation endpoints.

    Network errors and 5xx are retried after a jittered exponential back-off
    starting at `backoff` seconds (keyword `retry_backoff=`); a 429 waits for
    its Retry-After, at most `max_retry_after` seconds. `timeout` bounds each
    HTTP request (keyword `timeout=`).
    """

    attempts: int = 4
    backoff: float = 0.2
    timeout: float = 10.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")


@dataclass(frozen=True, slots=True)
class LockPolicy:
    """The per-account refresh lease shared through the store.

    `timeout`: how long to wait for another holder (keyword `lock_timeout=`).
    `lease`: how long a holder that died keeps the lock (keyword `lock_lease=`).
    """

    timeout: float = 30.0
    lease: float = LEASE_SECONDS


def _resolve(policy: P | None, default: P, argument: str, keywords: dict[str, Any]) -> P:
    """The policy given, or the default with the given keywords applied.

    `keywords` maps a constructor keyword to (policy field, value or None).
    """
    given = {name: pair for name, pair in keywords.items() if pair[1] is not None}
    if policy is not None:
        if given:
            names = ", ".join(f"{name}=" for name in given)
            raise TypeError(f"give {argument}= or {names}, not both")
        return policy
    return dataclasses.replace(default, **{field: value for field, value in given.values()})


def resolve_policies(
    *,
    refresh: RefreshPolicy | None,
    retry: RetryPolicy | None,
    lock: LockPolicy | None,
    background_refresh: bool | None,
    cache_seconds: float | None,
    timeout: float | None,
    retry_backoff: float | None,
    lock_timeout: float | None,
    lock_lease: float | None,
) -> tuple[RefreshPolicy, RetryPolicy, LockPolicy]:
    """The three policies from the constructor's policy and flat keyword arguments."""
    return (
        _resolve(
            refresh,
            RefreshPolicy(),
            "refresh",
            {
                "background_refresh": ("background", background_refresh),
                "cache_seconds": ("cache_seconds", cache_seconds),
            },
        ),
        _resolve(
            retry,
            RetryPolicy(),
            "retry",
            {"timeout": ("timeout", timeout), "retry_backoff": ("backoff", retry_backoff)},
        ),
        _resolve(
            lock,
            LockPolicy(),
            "lock",
            {"lock_timeout": ("timeout", lock_timeout), "lock_lease": ("lease", lock_lease)},
        ),
    )
