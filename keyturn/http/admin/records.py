"""/admin/v1/grants, /events and /keys: what was issued, what happened, what signs."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from keyturn import admin
from keyturn.config import master_secret
from keyturn.http.admin.auth import Caller, reader, writer
from keyturn.http.admin.models import EventOut, GrantOut, KeyOut, KeysRotated, Page
from keyturn.http.admin.paging import Cursor, Limit, decode_cursor, page_of
from keyturn.http.admin.problems import ApiProblem
from keyturn.operations import grants
from keyturn.store.records import GRANT_ID_BYTES, Grant, RevocationReason

router = APIRouter(tags=["admin: grants, events, keys"])
GrantId = Annotated[str, Path(min_length=1, max_length=200)]
Identifier = Annotated[str | None, Query(min_length=1, max_length=200)]


_GRANT_ID_HEX = re.compile(f"[0-9a-fA-F]{{{2 * GRANT_ID_BYTES}}}")


def _hex_or_none(text: str) -> bytes | None:
    """The 16 bytes a grant id's 32 hex digits spell, or None for anything else
    (`bytes.fromhex` alone would also take them with spaces between)."""
    return bytes.fromhex(text) if _GRANT_ID_HEX.fullmatch(text) else None


def _grant_id(text: str) -> bytes:
    """A grant id in a path; anything else names no grant (404, as unknown)."""
    raw = _hex_or_none(text)
    if raw is None:
        raise ApiProblem(404, f"no grant {text!r}")
    return raw


def _grant_key(grant: Grant) -> tuple[Any, ...]:
    return (grant.created_at, grant.grant_id.hex())


@router.get("/grants", operation_id="listGrants", summary="List grants, oldest first")
async def list_grants(
    caller: Annotated[Caller, Depends(reader)],
    user_id: Identifier = None,
    client_id: Identifier = None,
    active: Annotated[bool | None, Query(description="Only live, or only ended")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[GrantOut]:
    after = decode_cursor(cursor, (float, str))
    if after is not None:
        raw = _hex_or_none(after[1])
        if raw is None:
            raise ApiProblem(422, "the cursor is not one this API gave out")
        after = (after[0], raw)
    found = await caller.ctx.store.page_grants(
        user_id=user_id,
        client_id=client_id,
        active=active,
        now=caller.ctx.clock.now(),
        after=after,
        limit=limit + 1,
    )
    items, next_cursor = page_of(found, limit, _grant_key)
    return Page[GrantOut](items=[GrantOut.of(g) for g in items], next_cursor=next_cursor)


@router.get("/grants/{grant_id}", operation_id="getGrant", summary="One grant")
async def get_grant(grant_id: GrantId, caller: Annotated[Caller, Depends(reader)]) -> GrantOut:
    grant = await caller.ctx.store.get_grant(_grant_id(grant_id))
    if grant is None:
        raise ApiProblem(404, f"no grant {grant_id!r}")
    return GrantOut.of(grant)


@router.delete(
    "/grants/{grant_id}",
    operation_id="revokeGrant",
    status_code=204,
    summary="Revoke a grant: its refresh and access tokens stop working at once",
)
async def revoke_grant(
    grant_id: GrantId,
    caller: Annotated[Caller, Depends(writer)],
    reason: Annotated[str | None, Query(max_length=500, description="A note kept")] = None,
) -> Response:
    raw = _grant_id(grant_id)
    if await caller.ctx.store.get_grant(raw) is None:
        raise ApiProblem(404, f"no grant {grant_id!r}")
    if raw == caller.grant_id:
        raise ApiProblem(409, "this is the grant of the token making the request")
    await grants.revoke_grant(
        caller.ctx, raw, RevocationReason.REVOKED_BY_ADMIN, actor=caller.actor, note=reason or ""
    )
    return Response(status_code=204)


@router.get("/events", operation_id="listEvents", summary="Security events, newest first")
async def list_events(
    caller: Annotated[Caller, Depends(reader)],
    kind: Annotated[list[str], Query(max_length=50, description="Repeat for several")] = [],  # noqa: B006
    user_id: Identifier = None,
    client_id: Identifier = None,
    since: Annotated[datetime | None, Query(description="RFC 3339, inclusive")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[EventOut]:
    after = decode_cursor(cursor, (int,))
    since_at = None
    if since is not None:
        if since.tzinfo is None:
            raise ApiProblem(422, "since needs a time zone, e.g. 2026-01-01T00:00:00Z")
        since_at = since.timestamp()
    found = await caller.ctx.store.page_events(
        kinds=tuple(kind),
        user_id=user_id,
        client_id=client_id,
        since=since_at,
        before_id=None if after is None else after[0],
        limit=limit + 1,
    )
    items, next_cursor = page_of(found, limit, lambda e: (e.event_id,))
    return Page[EventOut](items=[EventOut.of(e) for e in items], next_cursor=next_cursor)


@router.get("/keys", operation_id="listKeys", summary="Server keys, oldest first")
async def list_keys(caller: Annotated[Caller, Depends(reader)]) -> list[KeyOut]:
    keys = await caller.ctx.store.list_keys()
    current = {k.kind: k.kid for k in keys if k.retired_at is None}  # newest live per kind
    return [KeyOut.of(k, current.get(k.kind) == k.kid) for k in keys]


@router.post(
    "/keys/rotate",
    operation_id="rotateKeys",
    status_code=201,
    summary="New current keys of every kind; older keys verify until retired",
)
async def rotate_keys(request: Request, caller: Annotated[Caller, Depends(writer)]) -> KeysRotated:
    secret = master_secret(request.app.state.settings)
    kids = await admin.rotate_keys(caller.ctx, secret, actor=caller.actor)
    await caller.ctx.keys.reload()  # this instance signs with them at once
    return KeysRotated(kids=kids)
