"""Partner sign-up: a client creates a user who gets tokens by registration code.

`POST /v1/user/signup/registration_code`. The
partner authenticates with a client_credentials access token; its client must
be allowed the registration_code grant type.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from keyturn.oauth.bearer import check_access_token
from keyturn.oauth.context import Context
from keyturn.oauth.errors import AccessDenied, InvalidRequest, InvalidToken
from keyturn.oauth.grants.registration_code import normalise_email
from keyturn.oauth.passwords import hash_password
from keyturn.oauth.text import plain_identifier, storable
from keyturn.store.records import EventKind, NewEvent, User, client_actor

MAX_EMAIL = 254
MAX_CODE = 512


@dataclass(frozen=True, slots=True)
class SignupRequest:
    email: str
    registration_code: str


def parse_signup(body: object) -> SignupRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    email, code = body.get("email"), body.get("registrationCode")
    if not isinstance(email, str) or not isinstance(code, str):
        raise InvalidRequest("email and registrationCode are required strings.")
    email = normalise_email(email)
    local, _, domain = email.partition("@")
    if (
        not local
        or "." not in domain
        or not plain_identifier(email, MAX_EMAIL)
        or any(c.isspace() for c in email)
    ):
        raise InvalidRequest("The email address is not valid.")
    if not code or not storable(code, MAX_CODE):
        raise InvalidRequest(f"registrationCode must be 1 to {MAX_CODE} characters of text.")
    return SignupRequest(email, code)


async def partner_client_id(ctx: Context, bearer: str | None) -> str:
    """The client behind a client_credentials token allowed to create users."""
    if not bearer:
        raise InvalidToken("A bearer access token is required.")
    valid = await check_access_token(ctx, bearer)
    if valid.grant.user_id is not None:
        raise AccessDenied("A client_credentials access token is required.")
    client = await ctx.store.get_client(valid.grant.client_id)
    if client is None or client.disabled or "registration_code" not in client.grant_types:
        raise AccessDenied("The client may not create users.")
    return client.client_id


async def create_partner_user(ctx: Context, client_id: str, request: SignupRequest) -> User:
    code_hash = await asyncio.to_thread(hash_password, request.registration_code)
    user = User(
        user_id=uuid.uuid4().hex,
        email=request.email,
        password_hash=None,
        owner_client_id=client_id,
        registration_code_hash=code_hash,
        claimed_at=None,
        enhanced_security=False,
        created_at=ctx.clock.now(),
    )
    event = NewEvent(EventKind.USER_CREATED, actor=client_actor(client_id), user_id=user.user_id)
    await ctx.store.create_user(user, event)
    return user
