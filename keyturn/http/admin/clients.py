"""/admin/v1/clients: register, read, change, disable, delete clients; rotate secrets."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from keyturn.http.admin.auth import Caller, reader, writer
from keyturn.http.admin.models import (
    ClientCreate,
    ClientCreated,
    ClientOut,
    ClientPatch,
    Page,
    SecretRotate,
    SecretRotated,
)
from keyturn.http.admin.paging import Cursor, Limit, decode_cursor, page_of
from keyturn.http.admin.problems import ApiProblem
from keyturn.oauth import policy
from keyturn.operations import clients
from keyturn.operations.clients import ClientSpec

router = APIRouter(prefix="/clients", tags=["admin: clients"])
ClientId = Annotated[str, Path(min_length=1, max_length=200)]
# The API's field names where they differ from the operations' (the CLI's) names.
RENAMED = {"grace": "grace_seconds"}


@router.get("", operation_id="listClients", summary="List clients, oldest first")
async def list_clients(
    caller: Annotated[Caller, Depends(reader)], limit: Limit = 100, cursor: Cursor = None
) -> Page[ClientOut]:
    after = decode_cursor(cursor, (float, str))
    found = await caller.ctx.store.page_clients(after=after, limit=limit + 1)
    items, next_cursor = page_of(found, limit, lambda c: (c.created_at, c.client_id))
    return Page[ClientOut](items=[ClientOut.of(c) for c in items], next_cursor=next_cursor)


@router.post(
    "",
    operation_id="createClient",
    status_code=201,
    summary="Register a client; the answer holds its secret, shown once",
)
async def create_client(
    body: ClientCreate, caller: Annotated[Caller, Depends(writer)]
) -> ClientCreated:
    spec = ClientSpec(
        name=body.name,
        public=body.public,
        redirect_uris=tuple(body.redirect_uris),
        scope=body.scope,
        grant_types=tuple(body.grant_types or policy.DEFAULT_GRANT_TYPES),
        access_ttl=body.access_ttl,
        refresh_ttl=body.refresh_ttl,
        rotation=body.rotation,
        grace_seconds=body.grace,
        idle_ttl=body.idle_ttl,
        always_refresh=body.always_refresh,
        rate_limit=body.rate_limit,
        id_token_alg=body.id_token_alg,
        access_token_format=body.access_token_format,
        admin=body.admin,
        allowed_origins=tuple(body.allowed_origins),
        require_mfa=body.require_mfa,
    )
    client, secret = await clients.create_client(caller.ctx, spec, actor=caller.actor)
    return ClientCreated(**ClientOut.of(client).model_dump(), client_secret=secret)


def _not_self(caller: Caller, client_id: str, action: str) -> None:
    """An admin client cannot lock itself out in the middle of its own request."""
    if client_id == caller.client_id:
        raise ApiProblem(409, f"an admin client cannot {action} itself; use another one")


@router.get("/{client_id}", operation_id="getClient", summary="One client")
async def get_client(client_id: ClientId, caller: Annotated[Caller, Depends(reader)]) -> ClientOut:
    return ClientOut.of(await clients.existing_client(caller.ctx, client_id))


@router.patch(
    "/{client_id}",
    operation_id="updateClient",
    summary="Change some settings; disabled: true revokes every grant of the client",
)
async def update_client(
    client_id: ClientId, body: ClientPatch, caller: Annotated[Caller, Depends(writer)]
) -> ClientOut:
    if body.disabled is True or body.admin is False:
        _not_self(caller, client_id, "disable or demote")
    changes: dict[str, Any] = {
        RENAMED.get(name, name): tuple(value) if isinstance(value, list) else value
        for name, value in body.model_dump(exclude_unset=True).items()
        if name != "disabled"
    }
    if changes:
        await clients.update_client(caller.ctx, client_id, changes, actor=caller.actor)
    if body.disabled is True:
        await clients.disable_client(caller.ctx, client_id, actor=caller.actor)
    elif body.disabled is False:
        await clients.enable_client(caller.ctx, client_id, actor=caller.actor)
    return ClientOut.of(await clients.existing_client(caller.ctx, client_id))


@router.delete(
    "/{client_id}",
    operation_id="deleteClient",
    status_code=204,
    summary="Revoke every grant of the client and delete it",
)
async def delete_client(
    client_id: ClientId, caller: Annotated[Caller, Depends(writer)]
) -> Response:
    await clients.delete_client(caller.ctx, client_id, actor=caller.actor)
    return Response(status_code=204)


@router.post(
    "/{client_id}/secret",
    operation_id="rotateClientSecret",
    summary="A new secret; the old one stops working at once",
)
async def rotate_secret(
    client_id: ClientId, body: SecretRotate, caller: Annotated[Caller, Depends(writer)]
) -> SecretRotated:
    if body.revoke_tokens:
        _not_self(caller, client_id, "revoke the tokens of")
    secret = await clients.rotate_client_secret(
        caller.ctx, client_id, revoke_tokens=body.revoke_tokens, actor=caller.actor
    )
    return SecretRotated(client_id=client_id, client_secret=secret)
