"""Browser sessions: a random cookie token, stored server-side as a hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from keyturn.http.asgi import Request, Response
from keyturn.http.web import SESSION_COOKIE, SESSION_SECONDS, Web, cookies
from keyturn.oauth.context import Context
from keyturn.operations import users
from keyturn.store.records import Session, User


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    session: Session
    user: User


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def current_session(ctx: Context, request: Request) -> SignedIn | None:
    token = cookies(request).get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    session = await ctx.store.get_session(_hash(token), ctx.clock.now())
    if session is None:
        return None
    user = await ctx.store.get_user(session.user_id)
    # A disabled user's sessions were ended; this holds even for one that raced it.
    return None if user is None or user.disabled else SignedIn(token, session, user)


def new_token() -> tuple[str, bytes]:
    """A cookie token and the hash the store keys its session by."""
    token = secrets.token_urlsafe(32)
    return token, _hash(token)


def new_session(ctx: Context, user_id: str, auth_level: int = 1) -> tuple[str, Session]:
    """A cookie token and the session stored for it (as a hash)."""
    token = secrets.token_urlsafe(32)
    now = ctx.clock.now()
    session = Session(
        _hash(token),
        user_id,
        auth_time=now,
        expires_at=now + SESSION_SECONDS,
        auth_level=auth_level,
    )
    return token, session


def set_session_cookie(web: Web, response: Response, token: str) -> None:
    web.cookie(response, SESSION_COOKIE, token, SESSION_SECONDS)


async def start_session(
    ctx: Context, web: Web, response: Response, user_id: str, ip: str | None
) -> bool:
    """Sign the browser in with a password (with its `sign_in_succeeded` event) and set
    the cookie; False if the user turned two-step verification on meanwhile."""
    token, session = new_session(ctx, user_id)
    if not await users.sign_in(ctx, session, ip):
        return False
    set_session_cookie(web, response, token)
    return True


async def end_session(ctx: Context, web: Web, response: Response, signed_in: SignedIn) -> None:
    await ctx.store.end_session(_hash(signed_in.token))
    web.cookie(response, SESSION_COOKIE, "", 0)
