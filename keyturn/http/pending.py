"""The half of a sign-in between a right password and a right two-step code.

A user with two-step verification gets no session for the password alone: a
short-lived cookie, signed by the server and bound to the password it was earned
with, says who is half-way, and `/login/two-step` asks for the code.
"""

from __future__ import annotations

import base64
import hmac
from urllib.parse import urlencode

from keyturn.http.asgi import Request, Response
from keyturn.http.web import Web, cookies
from keyturn.oauth.context import Context
from keyturn.oauth.secrets import constant_equals
from keyturn.store.records import User

PENDING_COOKIE = "kt_two_step"
PENDING_SECONDS = 600  # time to find the phone, not to walk away from a half sign-in


def _pending_mac(key: bytes, user_id: str, expires: int, password_hash: str | None) -> str:
    # Bound to the password hash: a password change voids half-finished sign-ins.
    signed = f"two-step|{user_id}|{expires}|{password_hash or ''}".encode()
    return base64.urlsafe_b64encode(hmac.digest(key, signed, "sha256")[:24]).decode()


def pending_value(web: Web, user: User, now: float) -> str:
    expires = int(now) + PENDING_SECONDS
    mac = _pending_mac(web.csrf_key, user.user_id, expires, user.password_hash)
    return f"{user.user_id}.{expires}.{mac}"


async def pending_user(ctx: Context, web: Web, request: Request) -> User | None:
    """The user whose password was right in this browser a moment ago, if any."""
    parts = cookies(request).get(PENDING_COOKIE, "").split(".")
    if len(parts) != 3 or len(parts[0]) > 64 or not (parts[1].isascii() and parts[1].isdigit()):
        return None
    user_id, expires, mac = parts[0], int(parts[1][:12]), parts[2]
    if expires < ctx.clock.now():
        return None
    user = await ctx.store.get_user(user_id)
    if user is None or user.disabled or not user.two_step:
        return None
    expected = _pending_mac(web.csrf_key, user_id, expires, user.password_hash)
    return user if constant_equals(expected.encode(), mac.encode()) else None


def second_step_redirect(web: Web, user: User, return_to: str, now: float) -> Response:
    """After a right password: on to the code, with the half-way cookie."""
    response = web.redirect("/login/two-step?" + urlencode({"return_to": return_to}))
    web.cookie(response, PENDING_COOKIE, pending_value(web, user, now), PENDING_SECONDS)
    return response
