"""The admin API's bodies and answers: pydantic models that also write its OpenAPI schema.

Request models forbid unknown fields, so a typo is a 422 naming the field
rather than a silently ignored setting.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from keyturn.notify.outbox import event_object
from keyturn.oauth import policy
from keyturn.oauth.issue import iso_timestamp
from keyturn.store.records import Client, Event, Grant, StoredKey, User

GrantType = Literal[
    "authorization_code", "refresh_token", "client_credentials", "registration_code"
]
SigningAlgorithm = Literal["RS256", "ES256", "EdDSA"]
TokenFormat = Literal["opaque", "jwt"]
T = TypeVar("T")


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


def unchanged(**constraints: Any) -> Any:
    """A PATCH field typed without None but defaulting to it: left out, it stays as it
    is; sent as null, it is refused (pydantic checks the type of what is sent only)."""
    return Field(default=None, **constraints)


class Problem(BaseModel):
    """An error as RFC 9457 describes it (`application/problem+json`)."""

    type: str = Field(description="A URI naming the kind of problem")
    title: str = Field(description="The kind of problem, in words")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong with this request")
    errors: list[FieldError] | None = Field(
        default=None, description="For 422: each invalid field and why"
    )


class FieldError(BaseModel):
    field: str = Field(description="Where the invalid value is, e.g. body.access_ttl")
    message: str


class Page(BaseModel, Generic[T]):
    """One page of a list in a stable order; pass `next_cursor` as `cursor` for the next."""

    items: list[T]
    next_cursor: str | None = Field(description="null on the last page")


# -- clients -------------------------------------------------------------------


class ClientSettings(Request):
    """The settings a client can be created with (and, but `public`, changed)."""

    redirect_uris: list[str] = Field(default=[], max_length=50, description="Exact redirect URIs")
    scope: str = Field(default="", max_length=2000, description="Scopes it may ask for")
    grant_types: list[GrantType] | None = Field(
        default=None, description="Default authorization_code and refresh_token"
    )
    access_ttl: int = Field(default=policy.ACCESS_TTL, gt=0, le=10 * 365 * 24 * 3600)
    refresh_ttl: int = Field(default=policy.REFRESH_TTL, gt=0, le=100 * 365 * 24 * 3600)
    idle_ttl: int | None = Field(default=None, gt=0, le=100 * 365 * 24 * 3600)
    grace: int = Field(default=policy.GRACE_SECONDS, ge=0, le=3600, description="Retry window")
    rotation: bool = Field(default=True, description="A new refresh token on every refresh")
    always_refresh: bool = Field(
        default=False, description="Issue refresh tokens without offline_access"
    )
    rate_limit: int | None = Field(default=None, gt=0, le=1_000_000, description="A minute")
    id_token_alg: SigningAlgorithm = "RS256"
    access_token_format: TokenFormat = "opaque"
    admin: bool = Field(default=False, description="May hold the keyturn:admin:* scopes")
    allowed_origins: list[str] = Field(default=[], max_length=50, description="CORS origins")
    require_mfa: bool = Field(default=False, description="Sign-ins need a second factor")


class ClientCreate(ClientSettings):
    name: str = Field(min_length=1, max_length=200, description="Shown on the consent page")
    public: bool = Field(default=False, description="No secret (apps, SPAs, command lines)")


class ClientPatch(Request):
    """Only the fields given change; `disabled` disables (revoking every grant) or enables.

    A field left out stays as it is; `null` is accepted only where it means something
    (`idle_ttl`, `rate_limit`: none).
    """

    name: str = unchanged(min_length=1, max_length=200)
    redirect_uris: list[str] = unchanged(max_length=50)
    scope: str = unchanged(max_length=2000)
    grant_types: list[GrantType] = unchanged(min_length=1)
    access_ttl: int = unchanged(gt=0, le=10 * 365 * 24 * 3600)
    refresh_ttl: int = unchanged(gt=0, le=100 * 365 * 24 * 3600)
    idle_ttl: int | None = Field(default=None, gt=0, le=100 * 365 * 24 * 3600)
    grace: int = unchanged(ge=0, le=3600)
    rotation: bool = unchanged()
    always_refresh: bool = unchanged()
    rate_limit: int | None = Field(default=None, gt=0, le=1_000_000)
    id_token_alg: SigningAlgorithm = unchanged()
    access_token_format: TokenFormat = unchanged()
    admin: bool = unchanged()
    allowed_origins: list[str] = unchanged(max_length=50)
    require_mfa: bool = unchanged()
    disabled: bool = unchanged()


class ClientOut(BaseModel):
    client_id: str
    name: str
    public: bool
    redirect_uris: list[str]
    scope: str
    grant_types: list[str]
    access_ttl: int
    refresh_ttl: int
    idle_ttl: int | None
    grace: int
    rotation: bool
    always_refresh: bool
    rate_limit: int | None
    id_token_alg: str
    access_token_format: str
    admin: bool
    allowed_origins: list[str]
    require_mfa: bool
    disabled: bool
    created_at: str = Field(description="RFC 3339, UTC")

    @classmethod
    def of(cls, client: Client) -> ClientOut:
        return cls(
            client_id=client.client_id,
            name=client.name,
            public=client.is_public,
            redirect_uris=list(client.redirect_uris),
            scope=client.scope,
            grant_types=list(client.grant_types),
            access_ttl=client.access_ttl,
            refresh_ttl=client.refresh_ttl,
            idle_ttl=client.idle_ttl,
            grace=client.grace_seconds,
            rotation=client.rotation,
            always_refresh=client.always_refresh,
            rate_limit=client.rate_limit,
            id_token_alg=client.id_token_alg,
            access_token_format=client.access_token_format,
            admin=client.admin,
            allowed_origins=list(client.allowed_origins),
            require_mfa=client.require_mfa,
            disabled=client.disabled,
            created_at=iso_timestamp(client.created_at),
        )


class ClientCreated(ClientOut):
    client_secret: str | None = Field(description="Shown once; null for a public client")


class SecretRotate(Request):
    revoke_tokens: bool = Field(default=False, description="Also revoke every grant")


class SecretRotated(BaseModel):
    client_id: str
    client_secret: str = Field(description="The new secret; the old one stopped working")


# -- users ---------------------------------------------------------------------


class UserCreate(Request):
    email: str = Field(min_length=3, max_length=254)
    password: str | None = Field(
        default=None, min_length=8, max_length=1000, description="None: cannot sign in yet"
    )


class UserPatch(Request):
    enhanced_security: bool = unchanged(description="Turning it on revokes every grant of the user")
    disabled: bool = unchanged(description="Disabling revokes every grant (account_disabled)")
    two_step: Literal[False] = unchanged(
        description="false resets two-step verification (a user who lost their phone and"
        " recovery codes): every session ends; only the user can turn it on"
    )


class UserOut(BaseModel):
    user_id: str
    email: str
    created_at: str
    enhanced_security: bool
    disabled: bool
    two_step: bool = Field(description="Signing in asks for an authenticator-app code")
    recovery_codes_left: int = Field(description="Unused two-step recovery codes")
    partner_client_id: str | None = Field(description="The client that created it, if any")
    claimed: bool = Field(description="An API-created account its person has taken over")

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            user_id=user.user_id,
            email=user.email,
            created_at=iso_timestamp(user.created_at),
            enhanced_security=user.enhanced_security,
            disabled=user.disabled,
            two_step=user.two_step,
            recovery_codes_left=user.recovery_codes_left,
            partner_client_id=user.owner_client_id,
            claimed=user.claimed_at is not None,
        )


# -- grants, events, keys ----------------------------------------------------------


def _when(at: float | None) -> str | None:
    return None if at is None else iso_timestamp(at)


class GrantOut(BaseModel):
    grant_id: str
    client_id: str
    user_id: str | None
    scope: str
    created_at: str
    last_used_at: str
    last_ip: str | None
    expires_at: str
    revoked_at: str | None
    revoked_reason: str | None
    auth_level: int | None = Field(
        description="1: password; 2: password and second factor; null: no user"
    )

    @classmethod
    def of(cls, grant: Grant) -> GrantOut:
        return cls(
            grant_id=grant.grant_id.hex(),
            client_id=grant.client_id,
            user_id=grant.user_id,
            scope=grant.scope,
            created_at=iso_timestamp(grant.created_at),
            last_used_at=iso_timestamp(grant.last_used_at),
            last_ip=grant.last_ip,
            expires_at=iso_timestamp(grant.expires_at),
            revoked_at=_when(grant.revoked_at),
            revoked_reason=grant.revoked_reason,
            auth_level=None if grant.user_id is None else grant.auth_level,
        )


class EventOut(BaseModel):
    id: int
    kind: str
    at: str
    client_id: str | None
    user_id: str | None
    grant_id: str | None
    ip: str | None
    actor: str | None = Field(description="cli, client:<id>, user:<id>, or null: keyturn")
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(**event_object(event))


class KeyOut(BaseModel):
    kid: int
    kind: str
    created_at: str
    retired_at: str | None
    current: bool = Field(description="The newest live key of its kind: it signs")

    @classmethod
    def of(cls, key: StoredKey, current: bool) -> KeyOut:
        return cls(
            kid=key.kid,
            kind=key.kind,
            created_at=iso_timestamp(key.created_at),
            retired_at=_when(key.retired_at),
            current=current,
        )


class KeysRotated(BaseModel):
    kids: list[int] = Field(description="The new current keys; older ones verify until retired")


Problem.model_rebuild()
