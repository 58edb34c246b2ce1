"""The registration_code grant: tokens for a user a partner created over the API.

Until the person claims the account, the partner proves control with the
registration code it chose at sign-up; after that the code is dead and the
answer is `invalid_grant` "Invalid user credentials." (reason `account_claimed`).
Tokens already issued keep working.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidGrant
from keyturn.oauth.grants.base import TokenRequest, new_grant
from keyturn.oauth.issue import TokenResponse, token_response
from keyturn.oauth.passwords import verify_password
from keyturn.oauth.scope import narrow_scope

INVALID_CREDENTIALS = "Invalid user credentials."


def normalise_email(email: str) -> str:
    return email.strip().lower()


class RegistrationCodeGrant:
    grant_type: ClassVar[str] = "registration_code"
    parameters: ClassVar[frozenset[str]] = frozenset({"email", "registration_code", "scope"})

    async def handle(self, request: TokenRequest, ctx: Context) -> TokenResponse:
        email = normalise_email(request.require("email"))
        code = request.require("registration_code")
        client = request.client
        scope = narrow_scope(request.params.get("scope"), client.scope)

        user = await ctx.store.get_user_by_email(email)
        owned = user is not None and user.owner_client_id == client.client_id
        stored = user.registration_code_hash if owned and user is not None else None
        # Argon2 takes tens of milliseconds: keep the event loop free meanwhile.
        matches = await asyncio.to_thread(verify_password, code, stored)
        if user is None or not owned:
            raise InvalidGrant(INVALID_CREDENTIALS, reason="unknown", detail="no such user")
        if user.claimed_at is not None:
            raise InvalidGrant(INVALID_CREDENTIALS, reason="account_claimed")
        if not matches:
            raise InvalidGrant(INVALID_CREDENTIALS, reason="unknown", detail="wrong code")
        if user.disabled:
            raise InvalidGrant(INVALID_CREDENTIALS, reason="account_disabled")

        grant = await ctx.store.create_grant(
            new_grant(
                request,
                ctx,
                user_id=user.user_id,
                scope=scope,
                with_refresh=True,
                auth_time=ctx.clock.now(),
            )
        )
        return token_response(ctx.keys.ring, grant, client, ctx.issuer)
