"""Introspection (RFC 7662) in the core, with an injected clock."""

from __future__ import annotations

from keyturn.oauth.clock import FrozenClock
from keyturn.oauth.context import Context
from keyturn.oauth.introspection import introspect_token
from tests.oauth.grants.test_refresh_token import issue, make_client, refresh


async def test_idle_refresh_token_is_inactive(ctx: Context, clock: FrozenClock) -> None:
    client = await make_client(ctx, idle_ttl=100)
    tokens = await issue(ctx, client)
    answer = await introspect_token(ctx, str(tokens["refresh_token"]))
    assert answer["active"] is True and answer["token_type"] == "refresh_token"
    clock.advance(101)
    assert await introspect_token(ctx, str(tokens["refresh_token"])) == {"active": False}


async def test_superseded_tokens_are_inactive(ctx: Context, clock: FrozenClock) -> None:
    client = await make_client(ctx)
    first = await issue(ctx, client)
    second = await refresh(ctx, client, first["refresh_token"])
    for old in (first["refresh_token"], first["access_token"]):
        assert await introspect_token(ctx, str(old)) == {"active": False}
    answer = await introspect_token(ctx, str(second["access_token"]))
    assert answer["active"] is True and answer["client_id"] == client.client_id
    assert answer["exp"] == int(clock.now()) + 12 * 3600


async def test_expired_access_token_is_inactive(ctx: Context, clock: FrozenClock) -> None:
    client = await make_client(ctx, access_ttl=60)
    tokens = await issue(ctx, client)
    clock.advance(60)
    assert await introspect_token(ctx, str(tokens["access_token"])) == {"active": False}
