"""Registering and removing webhooks."""

from __future__ import annotations

import secrets

from ada_url import URL

from keyturn.notify import signing
from keyturn.oauth.context import Context
from keyturn.operations import NotFound, OperationError
from keyturn.store.records import EventKind, NewEvent, Webhook

KNOWN_KINDS = frozenset(kind.value for kind in EventKind)


def _check_url(url: str) -> None:
    try:
        parsed = URL(url)
    except ValueError:
        raise OperationError(f"{url!r} is not an absolute URL") from None
    if parsed.protocol not in ("http:", "https:") or not parsed.hostname:
        raise OperationError("a webhook URL is http:// or https:// with a host")
    if parsed.username or parsed.password:
        raise OperationError("a webhook URL must not hold a user name or password")


async def create_webhook(
    ctx: Context, url: str, kinds: tuple[str, ...], *, actor: str
) -> tuple[Webhook, str]:
    """A receiver of the events of `kinds` (every kind when empty), from now on;
    returns it and its signing secret, shown once."""
    _check_url(url)
    unknown = sorted(set(kinds) - KNOWN_KINDS)
    if unknown:
        raise OperationError(f"unknown event kinds: {', '.join(unknown)}")
    secret = signing.new_secret()
    webhook = Webhook(
        webhook_id="wh_" + secrets.token_urlsafe(12),
        url=url,
        kinds=tuple(dict.fromkeys(kinds)),
        sealed_secret=signing.seal(ctx.webhook_key, secret),
        created_at=ctx.clock.now(),
    )
    event = NewEvent(
        EventKind.WEBHOOK_CREATED,
        actor=actor,
        detail={"webhook_id": webhook.webhook_id, "url": url, "kinds": list(webhook.kinds)},
    )
    await ctx.store.create_webhook(webhook, event)
    return webhook, secret


async def delete_webhook(ctx: Context, webhook_id: str, *, actor: str) -> None:
    """No more deliveries to it; those still pending are dropped."""
    event = NewEvent(EventKind.WEBHOOK_DELETED, actor=actor, detail={"webhook_id": webhook_id})
    if not await ctx.store.delete_webhook(webhook_id, ctx.clock.now(), event):
        raise NotFound(f"no webhook {webhook_id!r}")


async def existing_webhook(ctx: Context, webhook_id: str) -> Webhook:
    webhook = await ctx.store.get_webhook(webhook_id)
    if webhook is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    return webhook
