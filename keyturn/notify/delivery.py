"""Making the attempts: claim due deliveries, POST or mail each, record the outcome.

At least once: a delivery stays pending until an attempt succeeds; a failure (a
non-2xx answer, no answer within 10 s, a refused connection) is retried with
doubling back-off and jitter, for 24 hours, and then marked dead, where the
admin API shows it. Each attempt is leased to one process for a minute, so a
process killed mid-attempt leaves it to another rather than losing it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from typing import Any

import httpx

from keyturn.notify import signing, words
from keyturn.notify.mail import Mailer
from keyturn.notify.outbox import EMAIL, WEBHOOK, targets
from keyturn.oauth.context import Context
from keyturn.store.records import Delivery, Event

log = logging.getLogger("keyturn.notify")

ATTEMPT_TIMEOUT = 10.0
LEASE_SECONDS = 60.0  # longer than an attempt can take
# How long the process that fans events out keeps that job without renewing it (it
# renews every poll, once a second): events wait at most this long if it dies.
FAN_OUT_LEASE_SECONDS = 5.0
GIVE_UP_AFTER = 24 * 3600.0
MAX_BACKOFF = 3600.0
BATCH = 20


class Deliverer:
    def __init__(
        self,
        ctx: Context,
        *,
        webhook_key: bytes,
        mailer: Mailer | None,
        first_retry: float = 10.0,
        on_outcome: Callable[[str], None] = lambda _outcome: None,
        holder: str = "",
    ) -> None:
        self.ctx = ctx
        self.holder = holder or f"deliverer/{id(self)}"
        self.webhook_key = webhook_key
        self.mailer = mailer
        self.first_retry = first_retry
        self.on_outcome = on_outcome
        self.http = httpx.AsyncClient(timeout=ATTEMPT_TIMEOUT, follow_redirects=False)

    async def run_once(self) -> int:
        """Fan new events out, then attempt what is due; returns the attempts made."""
        mail = self.mailer is not None
        now = self.ctx.clock.now()
        # One process of the deployment reads new events into the outbox (the others
        # would only queue on its row lock); every process makes the attempts due.
        if await self.ctx.store.claim_lease("outbox", self.holder, now, FAN_OUT_LEASE_SECONDS):
            await self.ctx.store.fan_out(now, lambda event, hooks: targets(event, hooks, mail=mail))
        due = await self.ctx.store.claim_deliveries(now, LEASE_SECONDS, BATCH)
        await asyncio.gather(*(self._attempt(delivery) for delivery in due))
        return len(due)

    async def close(self) -> None:
        await self.http.aclose()

    async def _attempt(self, delivery: Delivery) -> None:
        status: int | None = None
        error: str | None = None
        try:
            if delivery.channel == WEBHOOK:
                status = await self._post(delivery)
                ok = 200 <= status < 300
                error = None if ok else f"answered {status}"
            else:
                await self._mail(delivery)
                ok = True
        except _Undeliverable as exc:
            await self._finish(delivery, "dead", status, str(exc))
            return
        except (httpx.HTTPError, OSError) as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"[:500]
        if ok:
            await self._finish(delivery, "delivered", status, None)
        elif self.ctx.clock.now() - delivery.created_at >= GIVE_UP_AFTER:
            await self._finish(delivery, "dead", status, error)
        else:
            await self._finish(delivery, "pending", status, error)

    async def _finish(
        self, delivery: Delivery, state: str, status: int | None, error: str | None
    ) -> None:
        now = self.ctx.clock.now()
        retry_at = now + self._backoff(delivery.attempts) if state == "pending" else now
        await self.ctx.store.finish_delivery(
            delivery.delivery_id,
            state=state,
            status=status,
            error=error,
            next_attempt_at=retry_at,
            now=now,
        )
        self.on_outcome("failed" if state == "pending" else state)
        if state != "delivered":
            log.info(
                "delivery %s to %s %s: %s",
                delivery.delivery_id,
                delivery.channel,
                "given up" if state == "dead" else "will be retried",
                error,
            )

    def _backoff(self, attempts: int) -> float:
        delay = min(self.first_retry * 2 ** max(0, attempts - 1), MAX_BACKOFF)
        return float(delay * random.uniform(0.8, 1.2))

    async def _post(self, delivery: Delivery) -> int:
        webhook = await self.ctx.store.get_webhook(delivery.target)
        if webhook is None:
            raise _Undeliverable("the webhook was deleted")
        secret = signing.unseal(self.webhook_key, webhook.sealed_secret)
        body = delivery.payload.encode()
        timestamp = int(self.ctx.clock.now())
        headers = signing.headers(secret, str(delivery.event_id), timestamp, body)
        answer = await self.http.post(webhook.url, content=body, headers=headers)
        return answer.status_code

    async def _mail(self, delivery: Delivery) -> None:
        assert self.mailer is not None
        user = await self.ctx.store.get_user(delivery.target)
        if user is None:
            raise _Undeliverable("the user is gone")
        shown = json.loads(delivery.payload)
        event = _event_of(shown)
        client = (
            None if event.client_id is None else await self.ctx.store.get_client(event.client_id)
        )
        sentence = words.describe(event, None if client is None else client.name)
        if sentence is None:
            raise _Undeliverable(f"nothing to tell about {event.kind}")
        text = (
            f"{sentence}\n\nWhen: {shown['at']} (UTC)\n"
            + (f"From: {event.ip}\n" if event.ip else "")
            + "\nIf this was not you, change your password and review the applications "
            "on your account page.\n"
        )
        await self.mailer.send(user.email, words.subject(event), text)


class _Undeliverable(Exception):
    """Nothing to retry: the receiver or the person is gone."""


def _event_of(shown: dict[str, Any]) -> Event:
    """The event back from the payload it was fanned out with."""
    return Event(
        event_id=shown["id"],
        at=0.0,
        kind=shown["kind"],
        client_id=shown["client_id"],
        user_id=shown["user_id"],
        grant_id=None,
        ip=shown["ip"],
        detail=shown["detail"],
        actor=shown["actor"],
    )


__all__ = ["EMAIL", "WEBHOOK", "Deliverer"]
