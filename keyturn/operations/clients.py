"""Registering, rotating and disabling clients."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from keyturn.oauth import policy
from keyturn.oauth.context import Context
from keyturn.oauth.keyring import SIGNING_ALGORITHMS
from keyturn.oauth.redirect_uris import redirect_uri_problem
from keyturn.oauth.scope import parse_scope
from keyturn.oauth.secrets import new_client_secret
from keyturn.operations import OperationError
from keyturn.store.records import Client, EventKind, NewEvent, RevocationReason


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


def new_client_id() -> str:
    """128 random bits, base64url, never starting with "-" (a command line reads that as
    an option) or "_"."""
    while True:
        client_id = secrets.token_urlsafe(16)
        if client_id[0] not in "-_":
            return client_id


def _check(spec: ClientSpec) -> None:
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


async def create_client(ctx: Context, spec: ClientSpec, *, actor: str) -> tuple[Client, str | None]:
    """Register a client; returns it and its secret (None for a public client), shown once."""
    _check(spec)
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
    event = NewEvent(
        EventKind.CLIENT_CREATED,
        actor=actor,
        client_id=client.client_id,
        detail={"name": client.name, "public": client.is_public},
    )
    await ctx.store.create_client(client, event)
    return client, secret


async def existing_client(ctx: Context, client_id: str) -> Client:
    client = await ctx.store.get_client(client_id)
    if client is None:
        raise OperationError(f"no client {client_id!r}")
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
        raise OperationError(f"no client {client_id!r}")
    return secret


async def disable_client(ctx: Context, client_id: str, *, actor: str) -> None:
    """The client stops authenticating everywhere and every grant of it is revoked."""
    await existing_client(ctx, client_id)
    event = NewEvent(EventKind.CLIENT_DISABLED, actor=actor, client_id=client_id)
    if not await ctx.store.disable_client(client_id, ctx.clock.now(), event):
        raise OperationError(f"no client {client_id!r}")
