"""The refresh grant against a real store with an injected clock."""

from __future__ import annotations

import os
import time

import pytest

from keyturn import admin
from keyturn.oauth.clock import FrozenClock
from keyturn.oauth.context import Context
from keyturn.oauth.errors import InvalidGrant, InvalidScope
from keyturn.oauth.grants.base import TokenRequest, new_grant
from keyturn.oauth.grants.refresh_token import RefreshTokenGrant
from keyturn.oauth.introspection import introspect_token
from keyturn.oauth.issue import token_response
from keyturn.oauth.revocation import revoke_token
from keyturn.store.records import Client, RevocationReason

GRANT = RefreshTokenGrant()


async def make_client(ctx: Context, **overrides: object) -> Client:
    spec = admin.ClientSpec(name="App", scope="openid offline_access read write", **overrides)  # type: ignore[arg-type]
    client, _ = await admin.create_client(ctx, spec)
    return client


async def issue(
    ctx: Context, client: Client, scope: str = "offline_access read write"
) -> dict[str, object]:
    request = TokenRequest(client, {}, "192.0.2.1")
    grant = await ctx.store.create_grant(
        new_grant(request, ctx, user_id=None, scope=scope, with_refresh=True, auth_time=None)
    )
    return token_response(ctx.keys.ring, grant, client, ctx.issuer)


async def refresh(ctx: Context, client: Client, token: object, **params: str) -> dict[str, object]:
    request = TokenRequest(client, {"refresh_token": str(token), **params}, "192.0.2.1")
    return await GRANT.handle(request, ctx)


async def reason_of(ctx: Context, client: Client, token: object) -> str | None:
    with pytest.raises(InvalidGrant) as caught:
        await refresh(ctx, client, token)
    return caught.value.reason


async def test_refresh_rotates_both_tokens(ctx: Context) -> None:
    client = await make_client(ctx)
    first = await issue(ctx, client)
    second = await refresh(ctx, client, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["expires_in"] == 12 * 3600


async def test_retry_inside_grace_window_gets_the_identical_response(
    ctx: Context, clock: FrozenClock
) -> None:
    client = await make_client(ctx)
    first = await issue(ctx, client)
    second = await refresh(ctx, client, first["refresh_token"])
    clock.advance(30)
    assert await refresh(ctx, client, first["refresh_token"]) == second


async def test_retry_just_after_grace_window_revokes_the_grant(
    ctx: Context, clock: FrozenClock
) -> None:
    client = await make_client(ctx)
    first = await issue(ctx, client)
    second = await refresh(ctx, client, first["refresh_token"])
    clock.advance(30.001)
    assert await reason_of(ctx, client, first["refresh_token"]) == "reuse_detected"
    assert await reason_of(ctx, client, second["refresh_token"]) == "reuse_detected"


async def test_retry_after_successor_was_used_is_reuse(ctx: Context, clock: FrozenClock) -> None:
    client = await make_client(ctx)
    first = await issue(ctx, client)
    second = await refresh(ctx, client, first["refresh_token"])
    clock.advance(1)
    third = await refresh(ctx, client, second["refresh_token"])
    assert await reason_of(ctx, client, first["refresh_token"]) == "reuse_detected"
    assert await reason_of(ctx, client, third["refresh_token"]) == "reuse_detected"


async def test_zero_grace_window_turns_any_retry_into_reuse(ctx: Context) -> None:
    client = await make_client(ctx, grace_seconds=0)
    first = await issue(ctx, client)
    await refresh(ctx, client, first["refresh_token"])
    assert await reason_of(ctx, client, first["refresh_token"]) == "reuse_detected"


@pytest.mark.parametrize("depth", [2, 3, 5])
async def test_every_older_generation_revokes(ctx: Context, clock: FrozenClock, depth: int) -> None:
    client = await make_client(ctx)
    tokens = [await issue(ctx, client)]
    for _ in range(depth):
        clock.advance(1)
        tokens.append(await refresh(ctx, client, tokens[-1]["refresh_token"]))
    assert await reason_of(ctx, client, tokens[0]["refresh_token"]) == "reuse_detected"
    events = await ctx.store.list_events()
    assert [e.kind for e in events] == ["client_created", "refresh_token_reuse"]
    assert events[0].actor == "cli" and events[1].actor is None  # the server itself


async def test_family_expires_at_its_absolute_lifetime(ctx: Context, clock: FrozenClock) -> None:
    client = await make_client(ctx, refresh_ttl=1000)
    first = await issue(ctx, client)
    clock.advance(999)
    second = await refresh(ctx, client, first["refresh_token"])
    assert second["expires_in"] == 1  # capped by the family's end
    clock.advance(1)
    assert await reason_of(ctx, client, second["refresh_token"]) == "expired"


async def test_idle_timeout(ctx: Context, clock: FrozenClock) -> None:
    client = await make_client(ctx, idle_ttl=100)
    first = await issue(ctx, client)
    clock.advance(100)
    second = await refresh(ctx, client, first["refresh_token"])
    clock.advance(100.5)
    assert await reason_of(ctx, client, second["refresh_token"]) == "idle_timeout"


async def test_without_rotation_the_refresh_token_stays(ctx: Context) -> None:
    client = await make_client(ctx, rotation=False)
    first = await issue(ctx, client)
    second = await refresh(ctx, client, first["refresh_token"])
    third = await refresh(ctx, client, first["refresh_token"])
    assert first["refresh_token"] == second["refresh_token"] == third["refresh_token"]
    assert len({first["access_token"], second["access_token"], third["access_token"]}) == 3


async def test_narrower_scope_applies_to_the_new_access_token_only(ctx: Context) -> None:
    client = await make_client(ctx)
    first = await issue(ctx, client)
    narrow = await refresh(ctx, client, first["refresh_token"], scope="read")
    assert narrow["scope"] == "read"
    full = await refresh(ctx, client, narrow["refresh_token"])
    assert full["scope"] == "offline_access read write"


async def test_wider_scope_is_invalid_scope_and_changes_nothing(ctx: Context) -> None:
    client = await make_client(ctx)
    first = await issue(ctx, client, scope="read")
    with pytest.raises(InvalidScope):
        await refresh(ctx, client, first["refresh_token"], scope="read write")
    assert (await refresh(ctx, client, first["refresh_token"]))["scope"] == "read"


async def test_token_of_another_client_is_invalid_grant(ctx: Context) -> None:
    owner = await make_client(ctx)
    other = await make_client(ctx)
    first = await issue(ctx, owner)
    assert await reason_of(ctx, other, first["refresh_token"]) == "unknown"
    # ...and the owner's token still works: nothing was revoked.
    await refresh(ctx, owner, first["refresh_token"])


async def test_revoked_by_user_reason_is_reported(ctx: Context) -> None:
    client = await make_client(ctx)
    first = await issue(ctx, client)
    grant_ids = [g.grant_id for g in await ctx.store.list_grants(now=ctx.clock.now())]
    await ctx.store.revoke_grant(grant_ids[0], RevocationReason.REVOKED_BY_USER, ctx.clock.now())
    assert await reason_of(ctx, client, first["refresh_token"]) == "revoked_by_user"


async def test_forged_token_is_unknown(ctx: Context) -> None:
    client = await make_client(ctx)
    first = await issue(ctx, client)
    token = str(first["refresh_token"])
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert await reason_of(ctx, client, forged) == "unknown"


async def test_retry_after_the_client_revoked_the_new_access_token_is_identical(
    ctx: Context, clock: FrozenClock
) -> None:
    client = await make_client(ctx)
    first = await issue(ctx, client)
    second = await refresh(ctx, client, first["refresh_token"])
    assert await revoke_token(ctx, client, str(second["access_token"]))
    clock.advance(5)
    assert await refresh(ctx, client, first["refresh_token"]) == second
    assert await introspect_token(ctx, str(second["access_token"])) == {"active": False}
    third = await refresh(ctx, client, second["refresh_token"])
    assert (await introspect_token(ctx, str(third["access_token"])))["active"] is True


@pytest.mark.parametrize("revoked", [False, True])
async def test_retry_with_es256_jwt_access_and_id_tokens_is_identical(
    ctx: Context, clock: FrozenClock, revoked: bool
) -> None:
    # PyJWT checks iat and exp against the wall clock, so start the frozen clock there.
    clock.advance(time.time() - clock.now())
    client = await make_client(ctx, id_token_alg="ES256", access_token_format="jwt")
    request = TokenRequest(client, {}, "192.0.2.1")
    grant = await ctx.store.create_grant(
        new_grant(
            request,
            ctx,
            user_id=await _user(ctx),
            scope="openid offline_access read",
            with_refresh=True,
            auth_time=ctx.clock.now(),
        )
    )
    first = token_response(ctx.keys.ring, grant, client, ctx.issuer)
    second = await refresh(ctx, client, first["refresh_token"])
    assert str(second["access_token"]).startswith("eyJ") and "id_token" in second
    if revoked:
        assert await revoke_token(ctx, client, str(second["access_token"]))
    clock.advance(29)
    assert await refresh(ctx, client, first["refresh_token"]) == second
    active = (await introspect_token(ctx, str(second["access_token"])))["active"]
    assert active is not revoked


async def _user(ctx: Context) -> str:
    user = await admin.create_user(ctx, f"{os.urandom(5).hex()}@example.com", None)
    return user.user_id
