"""Client authentication at the token, revocation and introspection endpoints.

RFC 6749 §2.3.1: `client_secret_basic` or `client_secret_post`; public
clients identify themselves with `client_id` alone (`none`). A client uses
exactly one method per request.
"""

from __future__ import annotations

from dataclasses import dataclass

from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidClient
from keyturn.oauth.signals import note_client_auth_failure
from keyturn.store.records import Client

# RFC 6749 §2.3.1 and OIDC Core §9: how a client may authenticate, strongest first.
CONFIDENTIAL_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
CLIENT_AUTH_METHODS = (*CONFIDENTIAL_AUTH_METHODS, "none")

# RFC 6749 §5.2: a client that tried Basic gets a Basic challenge back.
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="keyturn"'}


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    secret: str | None
    method: str  # one of CLIENT_AUTH_METHODS

    @property
    def used_basic(self) -> bool:
        return self.method == "client_secret_basic"


def _invalid(credentials: ClientCredentials, detail: str) -> InvalidClient:
    headers = BASIC_CHALLENGE if credentials.used_basic else {}
    error = InvalidClient(detail=detail)
    error.headers.update(headers)
    return error


async def authenticate_client(
    ctx: Context,
    credentials: ClientCredentials,
    *,
    allow_disabled: bool = False,
    ip: str | None = None,
) -> Client:
    """The client behind `credentials`, or InvalidClient.

    A disabled client fails here like a wrong secret, so it can neither read
    tokens at introspection nor revoke them. Only the token endpoint passes
    `allow_disabled`, because each grant answers a disabled client in its own
    wire terms (a refresh says `invalid_grant` with reason `client_disabled`).
    """
    client = await ctx.store.get_client(credentials.client_id)
    if client is None:
        # Spend the same work as a real check so a missing client is not told apart.
        ctx.secrets.verify(credentials.secret or "", b"\0" * 32)
        raise _invalid(credentials, f"unknown client {credentials.client_id!r}")
    if client.secret_hash is None:
        if credentials.secret is not None:
            raise _invalid(credentials, "public client presented a secret")
        if client.disabled and not allow_disabled:
            raise _invalid(credentials, "client is disabled")
        return client
    if credentials.secret is None:
        raise _invalid(credentials, "confidential client without a secret")
    if not ctx.secrets.verify(credentials.secret, client.secret_hash):
        await note_client_auth_failure(ctx, client.client_id, ip)
        raise _invalid(credentials, "wrong client secret")
    if client.disabled and not allow_disabled:
        raise _invalid(credentials, "client is disabled")
    return client


def require_confidential(client: Client) -> Client:
    if client.is_public:
        raise InvalidClient("Only confidential clients may call this endpoint.")
    return client


def no_credentials() -> InvalidClient:
    """RFC 6749 §5.2: no client authentication included is `invalid_client`, 401."""
    return InvalidClient("Client authentication is required.", headers=dict(BASIC_CHALLENGE))
