"""/admin/v1/users: create, find, disable, enable and erase users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from keyturn.http.admin.auth import Caller, reader, writer
from keyturn.http.admin.models import Page, UserCreate, UserOut, UserPatch
from keyturn.http.admin.paging import Cursor, Limit, decode_cursor, page_of
from keyturn.oauth.grants.registration_code import normalise_email
from keyturn.operations import two_step, users

router = APIRouter(prefix="/users", tags=["admin: users"])
UserId = Annotated[str, Path(min_length=1, max_length=200)]


@router.get("", operation_id="listUsers", summary="List users, oldest first, or find by email")
async def list_users(
    caller: Annotated[Caller, Depends(reader)],
    email: Annotated[str | None, Query(max_length=254)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[UserOut]:
    after = decode_cursor(cursor, (float, str))
    wanted = None if email is None else normalise_email(email)
    found = await caller.ctx.store.page_users(email=wanted, after=after, limit=limit + 1)
    items, next_cursor = page_of(found, limit, lambda u: (u.created_at, u.user_id))
    return Page[UserOut](items=[UserOut.of(u) for u in items], next_cursor=next_cursor)


@router.post("", operation_id="createUser", status_code=201, summary="Create a user")
async def create_user(body: UserCreate, caller: Annotated[Caller, Depends(writer)]) -> UserOut:
    user = await users.create_user(caller.ctx, body.email, body.password, actor=caller.actor)
    return UserOut.of(user)


@router.get("/{user_id}", operation_id="getUser", summary="One user")
async def get_user(user_id: UserId, caller: Annotated[Caller, Depends(reader)]) -> UserOut:
    return UserOut.of(await users.existing_user(caller.ctx, user_id))


@router.patch(
    "/{user_id}",
    operation_id="updateUser",
    summary="Enhanced security, disabled, or a two-step verification reset",
)
async def update_user(
    user_id: UserId, body: UserPatch, caller: Annotated[Caller, Depends(writer)]
) -> UserOut:
    user = await users.existing_user(caller.ctx, user_id)
    if body.enhanced_security is not None:
        await users.set_enhanced_security(
            caller.ctx, user, body.enhanced_security, actor=caller.actor
        )
    if body.disabled is not None:
        await users.set_disabled(caller.ctx, user, body.disabled, actor=caller.actor)
    if body.two_step is not None:
        await two_step.reset(caller.ctx, user, actor=caller.actor)
    return UserOut.of(await users.existing_user(caller.ctx, user_id))


@router.delete(
    "/{user_id}",
    operation_id="deleteUser",
    status_code=204,
    summary="Erase the user: grants revoked, email, password, sessions and consents gone",
)
async def delete_user(user_id: UserId, caller: Annotated[Caller, Depends(writer)]) -> Response:
    user = await users.existing_user(caller.ctx, user_id)
    await users.delete_user(caller.ctx, user, actor=caller.actor)
    return Response(status_code=204)
