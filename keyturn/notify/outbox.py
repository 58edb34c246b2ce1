"""Who hears of an event: the webhooks that subscribed to its kind, and the user by
email when it is one they must know of. Decided once, when the event is fanned out."""

from __future__ import annotations

import json
from typing import Any

from keyturn.oauth.issue import iso_timestamp
from keyturn.store.records import Event, EventKind, NewDelivery, Webhook

WEBHOOK = "webhook"
EMAIL = "email"

# Always worth an email; signals only when their policy says notify (or revoke).
EMAILED_KINDS = frozenset(
    {
        EventKind.SUSPECTED_COMPROMISE,
        EventKind.REFRESH_TOKEN_REUSE,
        EventKind.PASSWORD_CHANGED,
        EventKind.MFA_ENROLLED,
        EventKind.MFA_REMOVED,
    }
)
SIGNALS = frozenset(
    {
        EventKind.REFRESH_NETWORK_CHANGED,
        EventKind.REFRESH_STORM,
        EventKind.DORMANT_GRANT_USED,
    }
)


def event_object(event: Event) -> dict[str, Any]:
    """The event as webhooks, the admin API and `keyturn events --json` show it."""
    return {
        "id": event.event_id,
        "kind": event.kind,
        "at": iso_timestamp(event.at),
        "client_id": event.client_id,
        "user_id": event.user_id,
        "grant_id": None if event.grant_id is None else event.grant_id.hex(),
        "ip": event.ip,
        "actor": event.actor,
        "detail": event.detail,
    }


def emails_user(event: Event) -> bool:
    if event.user_id is None:
        return False
    if event.kind in EMAILED_KINDS:
        return True
    if event.kind in SIGNALS:
        return event.detail.get("action") in ("notify", "revoke")
    return event.kind == EventKind.SIGN_IN_SUCCEEDED and bool(event.detail.get("new_network"))


def targets(event: Event, webhooks: list[Webhook], *, mail: bool) -> list[NewDelivery]:
    payload = json.dumps(event_object(event), separators=(",", ":"))
    found = [
        NewDelivery(WEBHOOK, hook.webhook_id, payload) for hook in webhooks if hook.wants(event)
    ]
    if mail and emails_user(event):
        assert event.user_id is not None
        found.append(NewDelivery(EMAIL, event.user_id, payload))
    return found
