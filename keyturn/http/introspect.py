"""POST /oauth/introspect (RFC 7662), for authenticated confidential clients."""

from __future__ import annotations

from keyturn.http.asgi import Request, Response, json_response
from keyturn.http.client_auth import authenticated_client
from keyturn.http.forms import parse_form
from keyturn.oauth.client_auth import require_confidential
from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidRequest
from keyturn.oauth.introspection import introspect_token


async def introspect_endpoint(request: Request, ctx: Context) -> Response:
    form = parse_form(request)
    require_confidential(await authenticated_client(request, form, ctx))
    token = form.get("token")
    if not token:
        raise InvalidRequest("The token parameter is required.")
    return json_response(await introspect_token(ctx, token))
