"""POST /oauth/introspect (RFC 7662), for authenticated confidential clients."""

from __future__ import annotations

from keyturn.http.asgi import Request, Response, json_response
from keyturn.http.client_auth import client_credentials
from keyturn.http.forms import parse_form
from keyturn.oauth.client_auth import authenticate_client, no_credentials, require_confidential
from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidRequest
from keyturn.oauth.introspection import introspect_token


async def introspect_endpoint(request: Request, ctx: Context) -> Response:
    form = parse_form(request)
    credentials = client_credentials(request, form)
    if credentials is None:
        raise no_credentials()
    require_confidential(await authenticate_client(ctx, credentials))
    token = form.get("token")
    if not token:
        raise InvalidRequest("The token parameter is required.")
    return json_response(await introspect_token(ctx, token))
