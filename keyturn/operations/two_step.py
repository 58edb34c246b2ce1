"""Turning two-step verification on and off, and signing in with its codes.

Each change is one store call, in one transaction with its event: a new secret,
confirmed by its first code, becomes the user's (recovery codes made, other
sessions ended, `mfa_enrolled`); turned off with a code or reset by an operator
(`mfa_removed`); the second step of a sign-in, or of a step-up, uses its code up
as the session starts or rises to level 2.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import urlsplit

from keyturn.oauth.context import Context
from keyturn.oauth.keyring import KeyringError, seal, unseal
from keyturn.oauth.levels import MFA_LEVEL
from keyturn.oauth.two_step import (
    matching_step,
    new_recovery_codes,
    new_secret,
    normalise_code,
    recovery_hash,
    seal_secret,
    second_factor,
    setup_uri,
    unseal_secret,
)
from keyturn.operations.users import new_network
from keyturn.store.records import (
    EventKind,
    NewEvent,
    SecondFactor,
    Session,
    User,
    user_actor,
)

# Setting up or changing a second factor needs a recent password sign-in, as with
# other providers: a session cookie copied yesterday must not be enough to put an
# attacker's authenticator on the account (and lock its owner out).
RECENT_SIGN_IN = 600
# The set-up page may be left open a while before the first code is typed.
SETUP_SECONDS = 600


@dataclass(frozen=True, slots=True)
class Setup:
    """A secret being set up: shown as a URI (and QR code), carried by the set-up form
    as `token`, sealed to the session that asked for it."""

    secret: str
    uri: str
    token: str


def issuer_name(ctx: Context) -> str:
    """How authenticator apps label the account: this server's host name."""
    return urlsplit(ctx.issuer).hostname or "keyturn"


def signed_in_recently(ctx: Context, session: Session, *, slack: float = 0) -> bool:
    return ctx.clock.now() - session.auth_time <= RECENT_SIGN_IN + slack


def _kind(session_hash: bytes) -> str:
    # Sealed with the session as associated data: no other session (another tab of an
    # attacker who knows the password) can hand its own secret to this set-up.
    return f"totp setup {session_hash.hex()}"


def _setup(ctx: Context, user: User, secret: str, session_hash: bytes) -> Setup:
    sealed = seal(ctx.two_step_key, _kind(session_hash), secret.encode())
    token = base64.urlsafe_b64encode(sealed).decode()
    return Setup(secret, setup_uri(secret, user.email, issuer_name(ctx)), token)


def new_setup(ctx: Context, user: User, session_hash: bytes) -> Setup:
    """A new secret for the user to add to an app; nothing is stored until it is
    confirmed, so nothing changes (and nothing is recorded) before then."""
    return _setup(ctx, user, new_secret(), session_hash)


def setup_of(ctx: Context, user: User, session_hash: bytes, token: str) -> Setup | None:
    """The set-up the form carries, if this session made it."""
    try:
        sealed = base64.urlsafe_b64decode(token.encode("ascii"))
        secret = unseal(ctx.two_step_key, _kind(session_hash), sealed).decode()
    except (ValueError, KeyringError):
        return None
    return Setup(secret, setup_uri(secret, user.email, issuer_name(ctx)), token)


async def confirm_setup(
    ctx: Context,
    user: User,
    setup: Setup,
    code: str,
    session_hash: bytes,
    ip: str | None,
    *,
    renamed_to: bytes | None = None,
) -> list[str] | None:
    """Turn two-step verification on with the app's first code: the recovery codes
    (shown once, stored hashed), or None when the code is not right."""
    if user.two_step:
        return None
    now = ctx.clock.now()
    step = matching_step(setup.secret, normalise_code(code), now)
    if step is None:
        return None
    codes = new_recovery_codes()
    hashes = [recovery_hash(ctx.secrets, user.user_id, each) for each in codes]
    event = NewEvent(
        EventKind.MFA_ENROLLED, actor=user_actor(user.user_id), user_id=user.user_id, ip=ip
    )
    sealed = seal_secret(ctx.two_step_key, setup.secret)
    enabled = await ctx.store.enable_two_step(
        user.user_id, sealed, step, hashes, session_hash, now, event, renamed_to=renamed_to
    )
    return codes if enabled else None


def factor_of(ctx: Context, user: User, code: str) -> SecondFactor | None:
    """What `code` would use up for this user, if it can be right at all."""
    if user.totp_sealed is None:
        return None
    secret = unseal_secret(ctx.two_step_key, user.totp_sealed)
    return second_factor(secret, ctx.secrets, user.user_id, code, ctx.clock.now())


async def turn_off(
    ctx: Context, user: User, code: str, keep_session_hash: bytes, ip: str | None
) -> bool:
    """The user turns it off, proving the factor once more; other sessions end."""
    factor = factor_of(ctx, user, code)
    if factor is None:
        return False
    event = NewEvent(
        EventKind.MFA_REMOVED, actor=user_actor(user.user_id), user_id=user.user_id, ip=ip
    )
    return await ctx.store.disable_two_step(
        user.user_id, factor, keep_session_hash, ctx.clock.now(), event
    )


async def reset(ctx: Context, user: User, *, actor: str) -> bool:
    """An operator turns it off for a user who lost their phone and recovery codes:
    every session ends. False if it was off."""
    event = NewEvent(
        EventKind.MFA_REMOVED, actor=actor, user_id=user.user_id, detail={"reset": True}
    )
    return await ctx.store.disable_two_step(user.user_id, None, None, ctx.clock.now(), event)


def _factor_name(factor: SecondFactor) -> str:
    return "otp" if factor.totp_step is not None else "recovery_code"


async def sign_in(
    ctx: Context, user: User, factor: SecondFactor, session: Session, ip: str | None
) -> bool:
    """The second step of a sign-in: the session starts at level 2 if the code was
    not used before (its `sign_in_succeeded` event names the factor)."""
    event = NewEvent(
        EventKind.SIGN_IN_SUCCEEDED,
        actor=user_actor(user.user_id),
        user_id=user.user_id,
        ip=ip,
        detail={
            "new_network": await new_network(ctx, user.user_id, ip),
            "auth_level": MFA_LEVEL,
            "factor": _factor_name(factor),
        },
    )
    return await ctx.store.create_session(session, event, factor)


async def step_up(
    ctx: Context,
    user: User,
    factor: SecondFactor,
    session_hash: bytes,
    ip: str | None,
    *,
    renamed_to: bytes | None = None,
) -> bool:
    """A signed-in session proves the second factor for an application that needs it."""
    event = NewEvent(
        EventKind.SIGN_IN_SUCCEEDED,
        actor=user_actor(user.user_id),
        user_id=user.user_id,
        ip=ip,
        detail={"step_up": True, "auth_level": MFA_LEVEL, "factor": _factor_name(factor)},
    )
    return await ctx.store.step_up_session(
        session_hash, user.user_id, factor, ctx.clock.now(), event, renamed_to=renamed_to
    )
