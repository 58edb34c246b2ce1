"""GET /oauth/userinfo (OIDC Core §5.3) and GET /oauth/jwks (RFC 7517)."""

from __future__ import annotations

from typing import Any

from keyturn.http.asgi import Request, Response, json_response
from keyturn.http.signup import bearer_token
from keyturn.oauth.bearer import check_access_token
from keyturn.oauth.context import Context
from keyturn.oauth.errors import InsufficientScope, InvalidToken
from keyturn.oauth.scope import has_scope


async def userinfo_endpoint(request: Request, ctx: Context) -> Response:
    token = bearer_token(request)
    if token is None:
        raise InvalidToken("A bearer access token is required.")
    valid = await check_access_token(ctx, token, request.client_ip)
    grant = valid.grant
    if grant.user_id is None or not has_scope(grant.access_scope, "openid"):
        raise InsufficientScope("The access token was not issued with the openid scope.")
    user = await ctx.store.get_user(grant.user_id)
    if user is None:
        raise InvalidToken(detail="user gone")
    claims: dict[str, Any] = {"sub": user.user_id}
    if has_scope(grant.access_scope, "email"):
        claims["email"] = user.email
        claims["email_verified"] = False
    return json_response(claims)


async def jwks_endpoint(_request: Request, ctx: Context) -> Response:
    response = json_response(ctx.keys.ring.jwks(), no_store=False)
    # Short: a rotated key must reach relying parties before tokens signed with it.
    response.headers.append((b"cache-control", b"public, max-age=60"))
    return response
