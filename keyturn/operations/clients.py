"""Registering, changing, rotating, disabling and deleting clients."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keyturn.oauth import policy
from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidScope
from keyturn.oauth.keyring import SIGNING_ALGORITHMS
from keyturn.oauth.origins import origin_problem
from keyturn.oauth.redirect_uris import redirect_uri_problem
from keyturn.oauth.scope import parse_scope
from keyturn.oauth.secrets import new_client_secret
from keyturn.operations import NotFound, OperationError
from keyturn.store.records import Client, EventKind, NewEvent, RevocationReason

# The scopes of the admin API; only clients created as admin clients may hold them.
ADMIN_READ = "keyturn:admin:read"
ADMIN_WRITE = "keyturn:admin:write"
ADMIN_SCOPES = (ADMIN_READ, ADMIN_WRITE)


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
    admin: bool = False
    allowed_origins: tuple[str, ...] = ()
    require_mfa: bool = False


# What `update_client` may change: everything but the kind of client (public or not).
CHANGEABLE = frozenset(f.name for f in dataclasses.fields(ClientSpec)) - {"public"}


def new_client_id() -> str:
    """128 random bits, base64url, never starting with "-" (a command line reads that as
    an option) or "_"."""
    while True:
        client_id = secrets.token_urlsafe(16)
        if client_id[0] not in "-_":
            return client_id


def _scope_tokens(scope: str) -> list[str]:
    try:
        return parse_scope(scope)
    except InvalidScope:
        raise OperationError(
            "a scope is space-separated tokens of printable ASCII without quotes or backslashes"
        ) from None


def _check(spec: ClientSpec) -> None:
    _scope_tokens(spec.scope)
    if not spec.name.strip():
        raise OperationError("a client needs a name")
    unknown = set(spec.grant_types) - set(policy.KNOWN_GRANT_TYPES)
    if unknown:
        raise OperationError(f"unknown grant types {sorted(unknown)}")
    if spec.public and not spec.rotation:
        raise OperationError(
            "public clients always rotate refresh tokens (--no-rotation needs a secret)"
        )
    if spec.public and "client_credentials" in spec.grant_types:
        raise OperationError("a public client cannot use client_credentials")
    if spec.access_ttl <= 0 or spec.refresh_ttl <= 0 or spec.grace_seconds < 0:
        raise OperationError("lifetimes must be positive")
    for uri in spec.redirect_uris:
        problem = redirect_uri_problem(uri)
        if problem is not None:
            raise OperationError(f"redirect URI {uri!r} {problem}")
    if spec.id_token_alg not in SIGNING_ALGORITHMS:
        raise OperationError(f"id token algorithm must be one of {', '.join(SIGNING_ALGORITHMS)}")
    if spec.access_token_format not in ("opaque", "jwt"):
        raise OperationError("access token format must be opaque or jwt")
    _check_admin(spec)
    for origin in spec.allowed_origins:
        problem = origin_problem(origin)
        if problem is not None:
            raise OperationError(f"allowed origin {origin!r} {problem}")


def _check_admin(spec: ClientSpec) -> None:
    admin_scopes = [s for s in _scope_tokens(spec.scope) if s.startswith("keyturn:admin:")]
    if admin_scopes and not spec.admin:
        raise OperationError("only an admin client may have the keyturn:admin:* scopes")
    if set(admin_scopes) - set(ADMIN_SCOPES):
        raise OperationError(f"the admin scopes are {' and '.join(ADMIN_SCOPES)}")
    if spec.admin and spec.public:
        raise OperationError("an admin client must be confidential (it has a secret)")


def with_admin_defaults(spec: ClientSpec) -> ClientSpec:
    """An admin client asked for without scopes or grant types gets both admin scopes
    and the client_credentials grant, which is how the admin API is reached."""
    if not spec.admin:
        return spec
    return dataclasses.replace(
        spec,
        scope=spec.scope or " ".join(ADMIN_SCOPES),
        grant_types=(
            ("client_credentials",)
            if spec.grant_types == policy.DEFAULT_GRANT_TYPES
            else spec.grant_types
        ),
    )


async def create_client(ctx: Context, spec: ClientSpec, *, actor: str) -> tuple[Client, str | None]:
    """Register a client; returns it and its secret (None for a public client), shown once."""
    spec = with_admin_defaults(spec)
    _check(spec)
    secret = None if spec.public else new_client_secret()
    client = Client(
        client_id=new_client_id(),
        secret_hash=None if secret is None else ctx.secrets.hash(secret),
        disabled=False,
        created_at=ctx.clock.now(),
        **_settings(spec),
    )
    event = NewEvent(
        EventKind.CLIENT_CREATED,
        actor=actor,
        client_id=client.client_id,
        detail={"name": client.name, "public": client.is_public, "admin": client.admin},
    )
    await ctx.store.create_client(client, event)
    return client, secret


def _settings(spec: ClientSpec) -> dict[str, Any]:
    """The client's fields a spec decides (normalised), as at creation and update."""
    return {
        "name": spec.name.strip(),
        "redirect_uris": spec.redirect_uris,
        "scope": " ".join(parse_scope(spec.scope)),
        "grant_types": tuple(dict.fromkeys(spec.grant_types)),
        "access_ttl": spec.access_ttl,
        "refresh_ttl": spec.refresh_ttl,
        "rotation": spec.rotation,
        "grace_seconds": spec.grace_seconds,
        "idle_ttl": spec.idle_ttl,
        "always_refresh": spec.always_refresh,
        "rate_limit": spec.rate_limit,
        "id_token_alg": spec.id_token_alg,
        "access_token_format": spec.access_token_format,
        "admin": spec.admin,
        "allowed_origins": tuple(dict.fromkeys(spec.allowed_origins)),
        "require_mfa": spec.require_mfa,
    }


async def existing_client(ctx: Context, client_id: str) -> Client:
    client = await ctx.store.get_client(client_id)
    if client is None:
        raise NotFound(f"no client {client_id!r}")
    return client


async def rotate_client_secret(
    ctx: Context, client_id: str, *, revoke_tokens: bool, actor: str
) -> str:
    """A new secret, effective at once; with `revoke_tokens` (a compromised secret) every
    grant of the client is revoked in the same transaction, so no crash can leave the
    old tokens alive after the rotation."""
    client = await existing_client(ctx, client_id)
    if client.is_public:
        raise OperationError("a public client has no secret to rotate")
    secret = new_client_secret()
    event = NewEvent(
        EventKind.CLIENT_SECRET_ROTATED,
        actor=actor,
        client_id=client_id,
        detail={"revoke_tokens": revoke_tokens},
    )
    rotated = await ctx.store.rotate_client_secret(
        client_id,
        ctx.secrets.hash(secret),
        ctx.clock.now(),
        revoke_reason=RevocationReason.REVOKED_BY_ADMIN if revoke_tokens else None,
        event=event,
    )
    if rotated is None:
        raise NotFound(f"no client {client_id!r}")
    return secret


async def disable_client(ctx: Context, client_id: str, *, actor: str) -> None:
    """The client stops authenticating everywhere and every grant of it is revoked."""
    await existing_client(ctx, client_id)
    event = NewEvent(EventKind.CLIENT_DISABLED, actor=actor, client_id=client_id)
    if not await ctx.store.disable_client(client_id, ctx.clock.now(), event):
        raise NotFound(f"no client {client_id!r}")


async def enable_client(ctx: Context, client_id: str, *, actor: str) -> None:
    """The client authenticates again; grants revoked when it was disabled stay revoked."""
    event = NewEvent(EventKind.CLIENT_ENABLED, actor=actor, client_id=client_id)
    if not await ctx.store.enable_client(client_id, ctx.clock.now(), event):
        raise NotFound(f"no client {client_id!r}")


async def delete_client(ctx: Context, client_id: str, *, actor: str) -> int:
    """Every grant of the client is revoked and the client is found by nothing again;
    returns how many grants were revoked."""
    event = NewEvent(EventKind.CLIENT_DELETED, actor=actor, client_id=client_id)
    revoked = await ctx.store.delete_client(client_id, ctx.clock.now(), event)
    if revoked is None:
        raise NotFound(f"no client {client_id!r}")
    return revoked


def spec_of(client: Client) -> ClientSpec:
    return ClientSpec(
        name=client.name,
        public=client.is_public,
        redirect_uris=client.redirect_uris,
        scope=client.scope,
        grant_types=client.grant_types,
        access_ttl=client.access_ttl,
        refresh_ttl=client.refresh_ttl,
        rotation=client.rotation,
        grace_seconds=client.grace_seconds,
        idle_ttl=client.idle_ttl,
        always_refresh=client.always_refresh,
        rate_limit=client.rate_limit,
        id_token_alg=client.id_token_alg,
        access_token_format=client.access_token_format,
        admin=client.admin,
        allowed_origins=client.allowed_origins,
        require_mfa=client.require_mfa,
    )


async def update_client(
    ctx: Context, client_id: str, changes: Mapping[str, Any], *, actor: str
) -> Client:
    """Change some of a client's settings (`CHANGEABLE`), checked as a whole as at
    creation; the change reaches every instance at once."""
    unknown = set(changes) - CHANGEABLE
    if unknown:
        raise OperationError(f"cannot change {', '.join(sorted(unknown))}")
    client = await existing_client(ctx, client_id)
    spec = dataclasses.replace(spec_of(client), **changes)
    _check(spec)
    updated = dataclasses.replace(client, **_settings(spec))
    event = NewEvent(
        EventKind.CLIENT_UPDATED,
        actor=actor,
        client_id=client_id,
        detail={"changed": sorted(changes)},
    )
    if not await ctx.store.update_client(updated, ctx.clock.now(), event):
        raise NotFound(f"no client {client_id!r}")
    return updated
