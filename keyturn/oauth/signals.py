"""Anomaly signals: patterns that may mean a stolen token, noticed where they happen.

The refresh statement itself returns what the refresh signals read (the address
of this refresh and of the one before it, from the row it replaces, when the one
before was, refreshes in the current access-token window), so noticing costs no
extra round trip; only a signal that fires writes anything. Each signal has a
per-deployment policy:

- `record`: an event (seen by `keyturn events`, the admin API and webhooks);
- `notify`: the event, and the user is told too (email, the account page);
- `revoke`: the grant ends with reason `suspected_compromise`, recorded, and the
  refresh that tripped it is refused.

The defaults never revoke on a network change alone: phones change networks all
day, and the retry of a refresh whose answer was lost may come from elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from keyturn.store.records import EventKind, Grant, NewEvent

if TYPE_CHECKING:
    from keyturn.oauth.context import Context

log = logging.getLogger("keyturn.signals")

Action = Literal["record", "notify", "revoke"]
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class SignalPolicy:
    action: Action = "record"
    # Refreshes per access-token lifetime (storm), days unused (dormant), unknown or
    # forged tokens a minute from one address (token scan); unused for network changes.
    threshold: int = 0


@dataclass(frozen=True, slots=True)
class SignalPolicies:
    refresh_network_changed: SignalPolicy = SignalPolicy("record")
    refresh_storm: SignalPolicy = SignalPolicy("notify", 20)
    dormant_grant_used: SignalPolicy = SignalPolicy("notify", 30)
    token_scan: SignalPolicy = SignalPolicy("notify", 20)

    def of(self, kind: EventKind) -> SignalPolicy:
        policy: SignalPolicy = getattr(self, kind.value)
        return policy


SIGNAL_KINDS = (
    EventKind.REFRESH_NETWORK_CHANGED,
    EventKind.REFRESH_STORM,
    EventKind.DORMANT_GRANT_USED,
    EventKind.TOKEN_SCAN,
)


@dataclass(frozen=True, slots=True)
class Signal:
    kind: EventKind
    detail: dict[str, Any]


def refresh_signals(grant: Grant, now: float, policies: SignalPolicies) -> list[Signal]:
    """What the refresh that just advanced `grant` shows, from the row it returned."""
    found: list[Signal] = []
    network, before = grant.network, grant.prev_network
    moved = before is not None and network is not None and network != before
    if moved:
        found.append(
            Signal(
                EventKind.REFRESH_NETWORK_CHANGED, {"from_network": before, "to_network": network}
            )
        )
    storm = policies.refresh_storm.threshold
    # Once per window: at the refresh that first goes over the threshold.
    if storm and grant.window_count == storm + 1:
        found.append(
            Signal(EventKind.REFRESH_STORM, {"refreshes": grant.window_count, "threshold": storm})
        )
    dormant_days = policies.dormant_grant_used.threshold
    if moved and grant.prev_used_at is not None and dormant_days:
        idle = now - grant.prev_used_at
        if idle > dormant_days * DAY:
            found.append(
                Signal(
                    EventKind.DORMANT_GRANT_USED,
                    {"idle_days": round(idle / DAY, 1), "to_network": network},
                )
            )
    return found


def signal_event(signal: Signal, grant: Grant, ip: str | None, action: Action) -> NewEvent:
    return NewEvent(
        signal.kind,
        client_id=grant.client_id,
        user_id=grant.user_id,
        grant_id=grant.grant_id,
        ip=ip,
        detail={**signal.detail, "action": action},
    )


@dataclass
class Recorder:
    """Writes events off the request's path: a refresh answers without waiting for the
    event of a signal it tripped (the row already holds what it needs)."""

    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    def later(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(_logged(work))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait for what is being written (tests; shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending))


async def _logged(work: Coroutine[Any, Any, None]) -> None:
    try:
        await work
    except Exception:
        log.warning("could not record a signal's event", exc_info=True)


SCAN_WINDOW_MINUTES = 1


async def note_bad_token(ctx: Context, ip: str | None, where: str) -> None:
    """An unknown, forged or dead token was presented from `ip`: past the threshold in
    one window, that address is scanning for tokens (one event per window)."""
    policy = ctx.signals.token_scan
    if ip is None or not policy.threshold:
        return
    if await ctx.limiter.crossed(policy.threshold, SCAN_WINDOW_MINUTES, "token-scan", ip):
        event = NewEvent(
            EventKind.TOKEN_SCAN,
            ip=ip,
            detail={
                "threshold": policy.threshold,
                "window_seconds": 60 * SCAN_WINDOW_MINUTES,
                "where": where,
                "action": policy.action,
            },
        )
        ctx.recorder.later(ctx.store.record_event(ctx.clock.now(), event))


# At most this many client_auth_failed events a minute per client: a secret guessed
# at line speed must not become a database write per guess.
AUTH_FAILURE_EVENTS_PER_MINUTE = 10


async def note_client_auth_failure(ctx: Context, client_id: str, ip: str | None) -> None:
    if await ctx.limiter.allows(AUTH_FAILURE_EVENTS_PER_MINUTE, 1, "auth-failed", client_id):
        event = NewEvent(EventKind.CLIENT_AUTH_FAILED, client_id=client_id, ip=ip)
        ctx.recorder.later(ctx.store.record_event(ctx.clock.now(), event))
