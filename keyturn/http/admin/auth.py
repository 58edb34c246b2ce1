"""Who calls the admin API: a bearer access token of an admin client, with its scopes.

The token comes from keyturn's own client_credentials grant. It must be live,
its client must still be an enabled admin client (an operator who takes the
flag away ends its access at once), and it must carry the scope the operation
needs: `keyturn:admin:read` to look, `keyturn:admin:write` to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from keyturn import logs
from keyturn.http.admin.problems import ApiProblem
from keyturn.oauth.bearer import check_access_token
from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidToken
from keyturn.oauth.scope import has_scope
from keyturn.operations.clients import ADMIN_READ, ADMIN_WRITE
from keyturn.store.records import client_actor

# Declares the scheme in the OpenAPI document; the checks are ours (auto_error off).
bearer = HTTPBearer(auto_error=False, description="An access token of an admin client")
CHALLENGE = 'Bearer realm="keyturn-admin"'


@dataclass(frozen=True, slots=True)
class Caller:
    ctx: Context
    client_id: str
    grant_id: bytes  # of the token making the request

    @property
    def actor(self) -> str:
        return client_actor(self.client_id)


def context(request: Request) -> Context:
    ctx: Context | None = request.app.state.context()
    assert ctx is not None, "the admin API is served only after start-up"
    return ctx


async def _caller(
    ctx: Context, credentials: HTTPAuthorizationCredentials | None, scope: str
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiProblem(401, "a bearer access token is required", {"WWW-Authenticate": CHALLENGE})
    try:
        valid = await check_access_token(ctx, credentials.credentials, logs.client_ip.get())
    except InvalidToken:
        raise ApiProblem(
            401,
            "the access token is invalid, expired or revoked",
            {"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
        ) from None
    client = await ctx.store.get_client(valid.grant.client_id)
    if client is None or client.disabled or not client.admin:
        raise ApiProblem(
            401,
            "the token's client is not an enabled admin client",
            {"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
        )
    if not has_scope(valid.grant.access_scope, scope):
        raise ApiProblem(
            403,
            f"the access token lacks the {scope} scope",
            {"WWW-Authenticate": f'{CHALLENGE}, error="insufficient_scope", scope="{scope}"'},
        )
    return Caller(ctx, client.client_id, valid.grant.grant_id)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
ContextOf = Annotated[Context, Depends(context)]


async def reader(ctx: ContextOf, credentials: Credentials) -> Caller:
    return await _caller(ctx, credentials, ADMIN_READ)


async def writer(ctx: ContextOf, credentials: Credentials) -> Caller:
    return await _caller(ctx, credentials, ADMIN_WRITE)
