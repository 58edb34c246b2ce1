"""POST /oauth/token (RFC 6749 §3.2): a short run of named steps."""

from __future__ import annotations

from keyturn.http.asgi import Request, Response, json_response
from keyturn.http.client_auth import authenticated_client
from keyturn.http.forms import parse_form
from keyturn.http.metrics import count_token_request
from keyturn.oauth.context import Context
from keyturn.oauth.errors import (
    InvalidRequest,
    OAuthError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from keyturn.oauth.grants.base import TokenRequest, disabled_client_error
from keyturn.oauth.grants.registry import GRANTS


async def token_endpoint(request: Request, ctx: Context) -> Response:
    grant_type: str | None = None
    try:
        form = parse_form(request)
        grant_type = form.get("grant_type")
        response = await _token(request, ctx, form)
    except OAuthError as error:
        count_token_request(grant_type, error.code, error.reason)
        raise
    count_token_request(grant_type, "ok", None)
    return response


async def _token(request: Request, ctx: Context, form: dict[str, str]) -> Response:
    # A disabled client is refused below, in the terms of the grant it asked for.
    client = await authenticated_client(request, form, ctx, allow_disabled=True)

    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("The grant_type parameter is required.")
    grant = GRANTS.get(grant_type)
    if grant is None:
        raise UnsupportedGrantType()
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"The client may not use the {grant_type} grant.")
    if client.disabled:
        raise disabled_client_error(grant_type)
    params = {name: form[name] for name in grant.parameters if name in form}
    token_request = TokenRequest(client, params, request.client_ip)
    if not client.rate_limit:
        return json_response(await grant.handle(token_request, ctx))
    # An answer the database could not give (503) is not counted against the client.
    async with ctx.limiter.counted(client.rate_limit, "client", client.client_id):
        return json_response(await grant.handle(token_request, ctx))
