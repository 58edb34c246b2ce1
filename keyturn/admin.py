"""Operator actions behind the CLI: clients, users, grants, keys, events.

Each function takes a Context and plain values and returns plain values; the
CLI only parses arguments and prints.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from keyturn.oauth import policy
from keyturn.oauth.context import Context
from keyturn.oauth.grants.registration_code import normalise_email
from keyturn.oauth.issue import iso_timestamp
from keyturn.oauth.keyring import SIGNING_ALGORITHMS
from keyturn.oauth.keyring import rotate_keys as rotate_all_keys
from keyturn.oauth.passwords import hash_password
from keyturn.oauth.redirect_uris import redirect_uri_problem
from keyturn.oauth.scope import parse_scope
from keyturn.oauth.secrets import derive_key, new_client_secret
from keyturn.runtime import WRAP_PURPOSE
from keyturn.store.base import EmailTaken
from keyturn.store.records import Client, Event, Grant, User


class AdminError(Exception):
    """A refused operator action; the message is shown as is."""


@dataclass(frozen=True, slots=True)
class ClientSpec:
    name: str
    public: bool = False
    redirect_uris: tuple[str, ...] = ()
    scope: str = ""
    grant_types: tuple[str, ...] = policy.DEFAULT_GRANT_TYPES
    access_ttl: int = policy.ACCESS_TTL
    refresh_ttl: int = policy.REFRESH_TTL
    rotation: bool = True
    grace_seconds: int = policy.GRACE_SECONDS
    idle_ttl: int | None = None
    always_refresh: bool = False
    rate_limit: int | None = None
    id_token_alg: str = "RS256"
    access_token_format: str = "opaque"


def _check_redirect_uri(uri: str) -> None:
    problem = redirect_uri_problem(uri)
    if problem is not None:
        raise AdminError(f"redirect URI {uri!r} {problem}")


def new_client_id() -> str:
    """128 random bits, base64url, never starting with "-" (a command line reads that as
    an option) or "_"."""
    while True:
        client_id = secrets.token_urlsafe(16)
        if client_id[0] not in "-_":
            return client_id


async def create_client(ctx: Context, spec: ClientSpec) -> tuple[Client, str | None]:
    if not spec.name.strip():
        raise AdminError("a client needs a name")
    unknown = set(spec.grant_types) - set(policy.KNOWN_GRANT_TYPES)
    if unknown:
        raise AdminError(f"unknown grant types {sorted(unknown)}")
    if spec.public and not spec.rotation:
        raise AdminError(
            "public clients always rotate refresh tokens (--no-rotation needs a secret)"
        )
    if spec.public and "client_credentials" in spec.grant_types:
        raise AdminError("a public client cannot use client_credentials")
    if spec.access_ttl <= 0 or spec.refresh_ttl <= 0 or spec.grace_seconds < 0:
        raise AdminError("lifetimes must be positive")
    for uri in spec.redirect_uris:
        _check_redirect_uri(uri)
    if spec.id_token_alg not in SIGNING_ALGORITHMS:
        raise AdminError(f"id token algorithm must be one of {', '.join(SIGNING_ALGORITHMS)}")
    if spec.access_token_format not in ("opaque", "jwt"):
        raise AdminError("access token format must be opaque or jwt")
    secret = None if spec.public else new_client_secret()
    client = Client(
        client_id=new_client_id(),
        name=spec.name.strip(),
        secret_hash=None if secret is None else ctx.secrets.hash(secret),
        redirect_uris=spec.redirect_uris,
        scope=" ".join(parse_scope(spec.scope)),
        grant_types=tuple(dict.fromkeys(spec.grant_types)),
        access_ttl=spec.access_ttl,
        refresh_ttl=spec.refresh_ttl,
        rotation=spec.rotation,
        grace_seconds=spec.grace_seconds,
        idle_ttl=spec.idle_ttl,
        always_refresh=spec.always_refresh,
        disabled=False,
        created_at=ctx.clock.now(),
        rate_limit=spec.rate_limit,
        id_token_alg=spec.id_token_alg,
        access_token_format=spec.access_token_format,
    )
    await ctx.store.create_client(client)
    return client, secret


async def _client(ctx: Context, client_id: str) -> Client:
    client = await ctx.store.get_client(client_id)
    if client is None:
        raise AdminError(f"no client {client_id!r}")
    return client


async def rotate_client_secret(ctx: Context, client_id: str, *, revoke_tokens: bool) -> str:
    client = await _client(ctx, client_id)
    if client.is_public:
        raise AdminError("a public client has no secret to rotate")
    secret = new_client_secret()
    await ctx.store.set_client_secret(client_id, ctx.secrets.hash(secret))
    if revoke_tokens:
        await ctx.store.revoke_grants(policy.REVOKED_BY_ADMIN, ctx.clock.now(), client_id=client_id)
    await ctx.store.record_event(
        "client_secret_rotated",
        ctx.clock.now(),
        client_id=client_id,
        detail={"revoke_tokens": revoke_tokens},
    )
    return secret


async def disable_client(ctx: Context, client_id: str) -> None:
    await _client(ctx, client_id)
    await ctx.store.disable_client(client_id, ctx.clock.now())
    await ctx.store.record_event("client_disabled", ctx.clock.now(), client_id=client_id)


async def create_user(ctx: Context, email: str, password: str | None) -> User:
    email = normalise_email(email)
    if "@" not in email:
        raise AdminError(f"{email!r} is not an email address")
    user = User(
        user_id=uuid.uuid4().hex,
        email=email,
        password_hash=None if password is None else hash_password(password),
        owner_client_id=None,
        registration_code_hash=None,
        claimed_at=None,
        enhanced_security=False,
        created_at=ctx.clock.now(),
    )
    try:
        await ctx.store.create_user(user)
    except EmailTaken:
        raise AdminError(f"a user with email {email!r} already exists") from None
    return user


async def user_by_email(ctx: Context, email: str) -> User:
    user = await ctx.store.get_user_by_email(normalise_email(email))
    if user is None:
        raise AdminError(f"no user with email {email!r}")
    return user


async def set_enhanced_security(ctx: Context, email: str, enabled: bool) -> int:
    user = await user_by_email(ctx, email)
    revoked = await ctx.store.set_enhanced_security(user.user_id, enabled, ctx.clock.now())
    await ctx.store.record_event(
        "enhanced_security",
        ctx.clock.now(),
        user_id=user.user_id,
        detail={"enabled": enabled, "grants_revoked": revoked},
    )
    return revoked


async def claim_user(ctx: Context, email: str, password: str) -> User:
    """An API-created user takes over the account; the registration code dies."""
    user = await user_by_email(ctx, email)
    if user.owner_client_id is None:
        raise AdminError(f"{user.email} was not created by a partner; nothing to claim")
    if user.claimed_at is not None:
        raise AdminError(f"{user.email} has already been claimed")
    if not password:
        raise AdminError("the password must not be empty")
    if not await ctx.store.claim_user(user.user_id, hash_password(password), ctx.clock.now()):
        raise AdminError(f"{user.email} has already been claimed")
    await ctx.store.record_event("account_claimed", ctx.clock.now(), user_id=user.user_id)
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
    now = ctx.clock.now()
    detail: dict[str, object] = {"reason": reason or ""}
    if grant_id is not None:
        try:
            raw = bytes.fromhex(grant_id)
        except ValueError:
            raise AdminError(f"{grant_id!r} is not a grant id") from None
        count = int(await ctx.store.revoke_grant(raw, policy.REVOKED_BY_ADMIN, now))
        await ctx.store.record_event("grant_revoked", now, grant_id=raw, detail=detail)
        return count
    user_id = None if email is None else (await user_by_email(ctx, email)).user_id
    if user_id is None and client_id is None:
        raise AdminError("name a grant, a user or a client")
    count = await ctx.store.revoke_grants(
        policy.REVOKED_BY_ADMIN, now, user_id=user_id, client_id=client_id
    )
    await ctx.store.record_event(
        "grants_revoked",
        now,
        user_id=user_id,
        client_id=client_id,
        detail={**detail, "count": count},
    )
    return count


async def rotate_keys(ctx: Context, master: str) -> list[int]:
    return await rotate_all_keys(ctx.store, derive_key(master, WRAP_PURPOSE), ctx.clock)


async def retire_key(ctx: Context, kid: int) -> None:
    live = [key for key in await ctx.store.list_keys() if key.retired_at is None]
    if kid not in {key.kid for key in live}:
        raise AdminError(f"no live key {kid}")
    kind = next(key.kind for key in live if key.kid == kid)
    if len([key for key in live if key.kind == kind]) <= 1:
        raise AdminError(f"cannot retire the last {kind} key; rotate first")
    await ctx.store.retire_key(kid, ctx.clock.now())


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
        "disabled": client.disabled,
        "id_token_alg": client.id_token_alg,
        "access_token_format": client.access_token_format,
        "created_at": iso_timestamp(client.created_at),
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
    return {
        "event_id": event.event_id,
        "at": iso_timestamp(event.at),
        "kind": event.kind,
        "client_id": event.client_id,
        "user_id": event.user_id,
        "grant_id": None if event.grant_id is None else event.grant_id.hex(),
        "ip": event.ip,
        "detail": event.detail,
    }
