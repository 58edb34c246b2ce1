"""POST /v1/user/signup/registration_code: a partner creates a user."""

from __future__ import annotations

import json

from keyturn.http.asgi import Request, Response, json_response
from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidRequest
from keyturn.oauth.signup import create_partner_user, parse_signup, partner_client_id
from keyturn.store.base import EmailTaken


def bearer_token(request: Request) -> str | None:
    header = request.header(b"authorization")
    if header is None or header[:7].lower() != "bearer ":
        return None
    return header[7:].strip() or None


async def signup_endpoint(request: Request, ctx: Context) -> Response:
    client_id = await partner_client_id(ctx, bearer_token(request))
    content_type = (request.header(b"content-type") or "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise InvalidRequest("The body must be application/json.")
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):
        raise InvalidRequest("The body is not valid JSON.") from None
    signup = parse_signup(body)
    try:
        user = await create_partner_user(ctx, client_id, signup)
    except EmailTaken:
        return json_response(
            {"error": "conflict", "error_description": "A user with this email already exists."},
            409,
        )
    return json_response({"id": user.user_id, "email": user.email, "active": True})
