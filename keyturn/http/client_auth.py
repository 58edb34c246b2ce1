"""The client-authentication step of every endpoint that authenticates a client.

Token, revocation and introspection call `authenticated_client`: read the
credentials from the Authorization header or the form, refuse a request with
none, and check them (a disabled client fails here like a wrong secret).
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from keyturn import logs
from keyturn.http.asgi import Request
from keyturn.oauth.client_auth import (
    BASIC_CHALLENGE,
    ClientCredentials,
    authenticate_client,
    no_credentials,
)
from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidClient, InvalidRequest
from keyturn.store.records import Client

MAX_ID = 255


def _bad_basic(detail: str) -> InvalidClient:
    return InvalidClient(detail=detail, headers=dict(BASIC_CHALLENGE))


async def authenticated_client(
    request: Request, form: dict[str, str], ctx: Context, *, allow_disabled: bool = False
) -> Client:
    """The client that authenticated this request, or `invalid_client` (401)."""
    credentials = client_credentials(request, form)
    if credentials is None:
        raise no_credentials()
    logs.client_id.set(credentials.client_id)  # the one it claims to be, for the log line
    return await authenticate_client(
        ctx, credentials, allow_disabled=allow_disabled, ip=request.client_ip
    )


def client_credentials(request: Request, form: dict[str, str]) -> ClientCredentials | None:
    """The credentials the client presented, or None if it presented none."""
    header = request.header(b"authorization")
    if header is not None and header[:6].lower() == "basic ":
        if "client_secret" in form:
            raise InvalidRequest("Use one client authentication method, not two.")
        client_id, secret = _parse_basic(header[6:].strip())
        if form.get("client_id", client_id) != client_id:
            raise _bad_basic("client_id in the form differs from the Basic credentials")
        return ClientCredentials(client_id, secret, "client_secret_basic")
    form_id = form.get("client_id")
    if not form_id:
        return None
    if len(form_id) > MAX_ID:
        raise InvalidClient(detail="client_id too long")
    form_secret = form.get("client_secret")
    method = "none" if form_secret is None else "client_secret_post"
    return ClientCredentials(form_id, form_secret, method)


def _parse_basic(encoded: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _bad_basic("Basic credentials are not base64 UTF-8") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise _bad_basic("Basic credentials lack a colon or a client_id")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    client_id, secret = unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
    if "\x00" in client_id or "\x00" in secret or len(client_id) > MAX_ID:
        raise _bad_basic("Basic credentials contain a NUL or an overlong client_id")
    return client_id, secret
