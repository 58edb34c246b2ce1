"""POST /oauth/revoke (RFC 7009)."""

from __future__ import annotations

from keyturn.http.asgi import NO_STORE, Request, Response
from keyturn.http.client_auth import authenticated_client
from keyturn.http.forms import parse_form
from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidRequest
from keyturn.oauth.revocation import revoke_token


async def revoke_endpoint(request: Request, ctx: Context) -> Response:
    form = parse_form(request)
    client = await authenticated_client(request, form, ctx)
    token = form.get("token")
    if not token:
        raise InvalidRequest("The token parameter is required.")
    # token_type_hint is only a hint (§2.1): the prefix already says what a token is.
    await revoke_token(ctx, client, token)
    return Response(200, b"", list(NO_STORE))
