"""Turning two-step verification on and off, and signing in with its codes.

Each change is one store call, in one transaction with its event: the secret
staged while the user sets up an app, confirmed by a first code (recovery codes
made, other sessions ended, `mfa_enrolled`), turned off with a code or reset by an
operator (`mfa_removed`); the second step of a sign-in, or of a step-up, uses its
code up as the session starts or rises to level 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from keyturn.oauth.context import Context
from keyturn.oauth.levels import MFA_LEVEL
from keyturn.oauth.two_step import (
    matching_step,
    new_recovery_codes,
    new_secret,
    recovery_hash,
    seal_secret,
    second_factor,
    setup_uri,
    unseal_secret,
)
from keyturn.operations import NotFound
from keyturn.operations.users import new_network
from keyturn.store.records import (
    EventKind,
    NewEvent,
    SecondFactor,
    Session,
    User,
    user_actor,
)


@dataclass(frozen=True, slots=True)
class Setup:
    """What the set-up page shows: the secret as a URI (and so as a QR code)."""

    secret: str
    uri: str


def issuer_name(ctx: Context) -> str:
    """How authenticator apps label the account: this server's host name."""
    return urlsplit(ctx.issuer).hostname or "keyturn"


async def start_setup(ctx: Context, user: User) -> Setup:
    """A new secret for the user to add to an app; it counts once confirmed."""
    secret = new_secret()
    if not await ctx.store.stage_two_step(user.user_id, seal_secret(ctx.two_step_key, secret)):
        raise NotFound(f"no user {user.user_id!r}")
    return Setup(secret, setup_uri(secret, user.email, issuer_name(ctx)))


def staged_setup(ctx: Context, user: User) -> Setup | None:
    """The secret being set up, to show again (a wrong first code)."""
    if user.totp_pending is None:
        return None
    secret = unseal_secret(ctx.two_step_key, user.totp_pending)
    return Setup(secret, setup_uri(secret, user.email, issuer_name(ctx)))


async def confirm_setup(
    ctx: Context, user: User, code: str, session_hash: bytes, ip: str | None
) -> list[str] | None:
    """Turn two-step verification on with the app's first code: the recovery codes
    (shown once, stored hashed), or None when the code is not right."""
    if user.totp_pending is None or user.two_step:
        return None
    now = ctx.clock.now()
    step = matching_step(unseal_secret(ctx.two_step_key, user.totp_pending), code.strip(), now)
    if step is None:
        return None
    codes = new_recovery_codes()
    hashes = [recovery_hash(ctx.secrets, user.user_id, each) for each in codes]
    event = NewEvent(
        EventKind.MFA_ENROLLED, actor=user_actor(user.user_id), user_id=user.user_id, ip=ip
    )
    enabled = await ctx.store.enable_two_step(
        user.user_id, user.totp_pending, step, hashes, session_hash, now, event
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
    ctx: Context, user: User, factor: SecondFactor, session_hash: bytes, ip: str | None
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
        session_hash, user.user_id, factor, ctx.clock.now(), event
    )
