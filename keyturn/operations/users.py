"""Creating, disabling and erasing users; claiming accounts, enhanced security,
passwords, signing in."""

from __future__ import annotations

import asyncio
import uuid

from keyturn.oauth.context import Context
from keyturn.oauth.grants.registration_code import normalise_email
from keyturn.oauth.password_policy import password_problem
from keyturn.oauth.passwords import hash_password
from keyturn.operations import Conflict, NotFound, OperationError
from keyturn.store.base import EmailTaken
from keyturn.store.networks import network_of
from keyturn.store.records import EventKind, NewEvent, Session, User, user_actor


async def create_user(ctx: Context, email: str, password: str | None, *, actor: str) -> User:
    email = normalise_email(email)
    if "@" not in email:
        raise OperationError(f"{email!r} is not an email address")
    problem = None if password is None else password_problem(password, email)
    if problem:
        raise OperationError(problem)
    hashed = None if password is None else await asyncio.to_thread(hash_password, password)
    user = User(
        user_id=uuid.uuid4().hex,
        email=email,
        password_hash=hashed,
        owner_client_id=None,
        registration_code_hash=None,
        claimed_at=None,
        enhanced_security=False,
        created_at=ctx.clock.now(),
    )
    event = NewEvent(EventKind.USER_CREATED, actor=actor, user_id=user.user_id)
    try:
        await ctx.store.create_user(user, event)
    except EmailTaken:
        raise Conflict(f"a user with email {email!r} already exists") from None
    return user


async def user_by_email(ctx: Context, email: str) -> User:
    user = await ctx.store.get_user_by_email(normalise_email(email))
    if user is None:
        raise NotFound(f"no user with email {email!r}")
    return user


async def existing_user(ctx: Context, user_id: str) -> User:
    user = await ctx.store.get_user(user_id)
    if user is None:
        raise NotFound(f"no user {user_id!r}")
    return user


async def set_disabled(ctx: Context, user: User, disabled: bool, *, actor: str) -> int:
    """Disabling ends every session and revokes every grant (`account_disabled`);
    enabling lets the user sign in again. Returns how many grants were revoked."""
    kind = EventKind.USER_DISABLED if disabled else EventKind.USER_ENABLED
    event = NewEvent(kind, actor=actor, user_id=user.user_id)
    revoked = await ctx.store.set_user_disabled(user.user_id, disabled, ctx.clock.now(), event)
    if revoked is None:
        raise NotFound(f"no user {user.user_id!r}")
    return revoked


async def delete_user(ctx: Context, user: User, *, actor: str) -> int:
    """Erase the user's personal data (email, password, sessions, consents) and revoke
    every grant (`account_deleted`); events keep the opaque id. Returns how many
    grants were revoked."""
    event = NewEvent(EventKind.USER_DELETED, actor=actor, user_id=user.user_id)
    revoked = await ctx.store.delete_user(user.user_id, ctx.clock.now(), event)
    if revoked is None:
        raise NotFound(f"no user {user.user_id!r}")
    return revoked


async def set_enhanced_security(
    ctx: Context, user: User, enabled: bool, *, actor: str, ip: str | None = None
) -> int:
    """Turning it on revokes every grant of the user; returns how many."""
    event = NewEvent(EventKind.ENHANCED_SECURITY, actor=actor, user_id=user.user_id, ip=ip)
    return await ctx.store.set_enhanced_security(user.user_id, enabled, ctx.clock.now(), event)


async def claim_user(
    ctx: Context, user: User, password: str, *, actor: str, ip: str | None = None
) -> bool:
    """An API-created user takes over the account; the registration code stops working.

    False when someone claimed it first.
    """
    if user.owner_client_id is None:
        raise OperationError(f"{user.email} was not created by a partner; nothing to claim")
    problem = password_problem(password, user.email)
    if problem:
        raise OperationError(problem)
    hashed = await asyncio.to_thread(hash_password, password)
    event = NewEvent(EventKind.ACCOUNT_CLAIMED, actor=actor, user_id=user.user_id, ip=ip)
    return await ctx.store.claim_user(user.user_id, hashed, ctx.clock.now(), event)


async def change_password(
    ctx: Context, user: User, new_password: str, keep_session_hash: bytes, ip: str | None
) -> None:
    """Set the password, end the user's other sessions, record `password_changed`."""
    problem = password_problem(new_password, user.email)
    if problem:
        raise OperationError(problem)
    hashed = await asyncio.to_thread(hash_password, new_password)
    await ctx.store.change_password(user.user_id, hashed, keep_session_hash, ctx.clock.now(), ip)


async def sign_in(ctx: Context, session: Session, ip: str | None) -> bool:
    """A browser session starts, with its `sign_in_succeeded` event; the event says
    whether the user signed in from a network none of their recent sign-ins came from."""
    event = NewEvent(
        EventKind.SIGN_IN_SUCCEEDED,
        actor=user_actor(session.user_id),
        user_id=session.user_id,
        ip=ip,
        detail={"new_network": await new_network(ctx, session.user_id, ip)},
    )
    return await ctx.store.create_session(session, event)


async def sign_in_failed(
    ctx: Context,
    email: str,
    user: User | None,
    ip: str | None,
    *,
    throttled: bool,
    second_step: bool = False,
) -> None:
    """A failed or held-back sign-in, recorded (no state changes with it). The email
    tried is kept only when it names no user: a user's events name them by id.
    `second_step`: the password was right, the two-step code was not."""
    if throttled and not await ctx.limiter.allows(1, 1, "throttled-event", email, ip or "-"):
        return  # one event a minute is enough to say an account is being hammered
    kind = EventKind.SIGN_IN_THROTTLED if throttled else EventKind.SIGN_IN_FAILED
    event = NewEvent(
        kind,
        user_id=None if user is None else user.user_id,
        ip=ip,
        detail=(
            {"unknown_email": True}
            if user is None
            else {"second_step": True}
            if second_step
            else {}
        ),
    )
    await ctx.store.record_event(ctx.clock.now(), event)


KNOWN_SIGN_INS = 20  # how many recent sign-ins say which networks are the user's own


async def new_network(ctx: Context, user_id: str, ip: str | None) -> bool:
    here = network_of(ip)
    if here is None:
        return False
    before = await ctx.store.page_events(
        kinds=(EventKind.SIGN_IN_SUCCEEDED,),
        user_id=user_id,
        client_id=None,
        since=None,
        before_id=None,
        limit=KNOWN_SIGN_INS,
    )
    # A first sign-in has no network to differ from; it is not news to its user.
    return bool(before) and here not in {network_of(event.ip) for event in before}
