"""The operator's actions behind the command line, as the actor `cli`.

The state changes themselves live in `keyturn.operations`, shared with the pages
(and any other caller); this module names the operator as their actor and
shapes records as the JSON the command line prints.
"""

from __future__ import annotations

from typing import Any

from keyturn.notify.outbox import event_object
from keyturn.oauth.context import Context
from keyturn.oauth.grants.registration_code import normalise_email
from keyturn.oauth.issue import iso_timestamp
from keyturn.oauth.keyring import rotate_keys as rotate_all_keys
from keyturn.oauth.secrets import derive_key
from keyturn.operations import OperationError, clients, grants, two_step, users, webhooks
from keyturn.operations.clients import ClientSpec, new_client_id
from keyturn.runtime import WRAP_PURPOSE
from keyturn.store.records import (
    CLI_ACTOR,
    Client,
    Event,
    EventKind,
    Grant,
    NewEvent,
    RevocationReason,
    User,
    Webhook,
)

AdminError = OperationError  # what the command line reports, one line, exit 1

__all__ = [
    "AdminError",
    "ClientSpec",
    "claim_user",
    "client_json",
    "create_client",
    "create_user",
    "disable_client",
    "event_json",
    "grant_json",
    "list_grants",
    "new_client_id",
    "retire_key",
    "revoke_grants",
    "rotate_client_secret",
    "rotate_keys",
    "set_enhanced_security",
    "user_by_email",
]


async def create_client(ctx: Context, spec: ClientSpec) -> tuple[Client, str | None]:
    return await clients.create_client(ctx, spec, actor=CLI_ACTOR)


async def rotate_client_secret(ctx: Context, client_id: str, *, revoke_tokens: bool) -> str:
    return await clients.rotate_client_secret(
        ctx, client_id, revoke_tokens=revoke_tokens, actor=CLI_ACTOR
    )


async def disable_client(ctx: Context, client_id: str) -> None:
    await clients.disable_client(ctx, client_id, actor=CLI_ACTOR)


async def existing_client(ctx: Context, client_id: str) -> Client:
    return await clients.existing_client(ctx, client_id)


async def update_client(ctx: Context, client_id: str, changes: dict[str, Any]) -> Client:
    return await clients.update_client(ctx, client_id, changes, actor=CLI_ACTOR)


async def enable_client(ctx: Context, client_id: str) -> None:
    await clients.enable_client(ctx, client_id, actor=CLI_ACTOR)


async def delete_client(ctx: Context, client_id: str) -> int:
    return await clients.delete_client(ctx, client_id, actor=CLI_ACTOR)


async def list_users(ctx: Context, *, email: str | None) -> list[User]:
    """Every user (pages of 500 read one after another), or the one with that email."""
    found: list[User] = []
    after: tuple[Any, ...] | None = None
    wanted = None if email is None else normalise_email(email)
    while True:
        page = await ctx.store.page_users(email=wanted, after=after, limit=500)
        found += page
        if len(page) < 500:
            return found
        after = (page[-1].created_at, page[-1].user_id)


async def set_user_disabled(ctx: Context, email: str, disabled: bool) -> int:
    user = await users.user_by_email(ctx, email)
    return await users.set_disabled(ctx, user, disabled, actor=CLI_ACTOR)


async def reset_two_step(ctx: Context, email: str) -> bool:
    user = await users.user_by_email(ctx, email)
    return await two_step.reset(ctx, user, actor=CLI_ACTOR)


async def delete_user(ctx: Context, email: str) -> tuple[User, int]:
    user = await users.user_by_email(ctx, email)
    return user, await users.delete_user(ctx, user, actor=CLI_ACTOR)


async def create_webhook(ctx: Context, url: str, kinds: tuple[str, ...]) -> tuple[Webhook, str]:
    return await webhooks.create_webhook(ctx, url, kinds, actor=CLI_ACTOR)


async def delete_webhook(ctx: Context, webhook_id: str) -> None:
    await webhooks.delete_webhook(ctx, webhook_id, actor=CLI_ACTOR)


async def create_user(ctx: Context, email: str, password: str | None) -> User:
    return await users.create_user(ctx, email, password, actor=CLI_ACTOR)


async def user_by_email(ctx: Context, email: str) -> User:
    return await users.user_by_email(ctx, email)


async def set_enhanced_security(ctx: Context, email: str, enabled: bool) -> int:
    user = await users.user_by_email(ctx, email)
    return await users.set_enhanced_security(ctx, user, enabled, actor=CLI_ACTOR)


async def claim_user(ctx: Context, email: str, password: str) -> User:
    """An API-created user takes over the account; the registration code dies."""
    user = await users.user_by_email(ctx, email)
    if user.claimed_at is not None or not await users.claim_user(
        ctx, user, password, actor=CLI_ACTOR
    ):
        raise OperationError(f"{user.email} has already been claimed")
    return user


async def list_grants(
    ctx: Context, *, email: str | None, client_id: str | None, include_inactive: bool
) -> list[Grant]:
    user_id = None if email is None else (await user_by_email(ctx, email)).user_id
    return await ctx.store.list_grants(
        user_id=user_id,
        client_id=client_id,
        include_inactive=include_inactive,
        now=ctx.clock.now(),
    )


async def revoke_grants(
    ctx: Context,
    *,
    grant_id: str | None,
    email: str | None,
    client_id: str | None,
    reason: str | None,
) -> int:
    """`keyturn grant revoke`: one grant, a user's (at a client), or a client's."""
    note = reason or ""
    if grant_id is not None:
        try:
            raw = bytes.fromhex(grant_id)
        except ValueError:
            raise OperationError(f"{grant_id!r} is not a grant id") from None
        revoked = await grants.revoke_grant(
            ctx, raw, RevocationReason.REVOKED_BY_ADMIN, actor=CLI_ACTOR, note=note
        )
        return int(revoked)
    user_id = None if email is None else (await user_by_email(ctx, email)).user_id
    return await grants.revoke_grants(
        ctx,
        RevocationReason.REVOKED_BY_ADMIN,
        actor=CLI_ACTOR,
        user_id=user_id,
        client_id=client_id,
        note=note,
    )


async def rotate_keys(ctx: Context, master: str, *, actor: str = CLI_ACTOR) -> list[int]:
    event = NewEvent(EventKind.KEYS_ROTATED, actor=actor)
    return await rotate_all_keys(ctx.store, derive_key(master, WRAP_PURPOSE), ctx.clock, event)


async def retire_key(ctx: Context, kid: int) -> None:
    live = [key for key in await ctx.store.list_keys() if key.retired_at is None]
    if kid not in {key.kid for key in live}:
        raise OperationError(f"no live key {kid}")
    kind = next(key.kind for key in live if key.kid == kid)
    if len([key for key in live if key.kind == kind]) <= 1:
        raise OperationError(f"cannot retire the last {kind} key; rotate first")
    event = NewEvent(EventKind.KEY_RETIRED, actor=CLI_ACTOR, detail={"kind": kind})
    await ctx.store.retire_key(kid, ctx.clock.now(), event)


# -- JSON shapes -------------------------------------------------------------


def client_json(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "public": client.is_public,
        "redirect_uris": list(client.redirect_uris),
        "scope": client.scope,
        "grant_types": list(client.grant_types),
        "access_ttl": client.access_ttl,
        "refresh_ttl": client.refresh_ttl,
        "rotation": client.rotation,
        "grace_seconds": client.grace_seconds,
        "idle_ttl": client.idle_ttl,
        "always_refresh": client.always_refresh,
        "rate_limit": client.rate_limit,
        "disabled": client.disabled,
        "id_token_alg": client.id_token_alg,
        "access_token_format": client.access_token_format,
        "admin": client.admin,
        "allowed_origins": list(client.allowed_origins),
        "require_mfa": client.require_mfa,
        "created_at": iso_timestamp(client.created_at),
    }


def user_json(user: User) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "email": user.email,
        "created_at": iso_timestamp(user.created_at),
        "enhanced_security": user.enhanced_security,
        "disabled": user.disabled,
        "two_step": user.two_step,
        "recovery_codes_left": user.recovery_codes_left,
        "partner_client_id": user.owner_client_id,
        "claimed": user.claimed_at is not None,
    }


def _when(at: float | None) -> str | None:
    return None if at is None else iso_timestamp(at)


def grant_json(grant: Grant) -> dict[str, Any]:
    return {
        "grant_id": grant.grant_id.hex(),
        "client_id": grant.client_id,
        "user_id": grant.user_id,
        "scope": grant.scope,
        "created_at": iso_timestamp(grant.created_at),
        "last_used_at": iso_timestamp(grant.last_used_at),
        "expires_at": iso_timestamp(grant.expires_at),
        "refresh_generation": grant.refresh_generation,
        "has_refresh_token": grant.has_refresh,
        "revoked_at": _when(grant.revoked_at),
        "revoked_reason": grant.revoked_reason,
    }


def event_json(event: Event) -> dict[str, Any]:
    """The event as everything else shows it, plus `event_id` (the command line's
    name for `id` before events had one shape)."""
    return {**event_object(event), "event_id": event.event_id}
