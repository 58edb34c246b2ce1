"""CORS over a real server: answers for a client's registered origins, none for others."""

from __future__ import annotations

import asyncio
import time

import httpx

from keyturn.oauth.context import Context
from keyturn.operations.clients import ClientSpec, create_client, update_client
from tests.support import ServerProcess

SPA = "https://spa.example"


async def spa_client(ctx: Context, origin: str = SPA) -> str:
    spec = ClientSpec(
        name="Single-page app",
        public=True,
        redirect_uris=(f"{origin}/callback",),
        scope="openid offline_access",
        allowed_origins=(origin,),
    )
    client, _ = await create_client(ctx, spec, actor="cli")
    return client.client_id


def allowed_origin(response: httpx.Response) -> str | None:
    value: str | None = response.headers.get("access-control-allow-origin")
    return value


async def test_a_preflight_from_a_registered_origin_is_answered(
    server: ServerProcess, admin_ctx: Context
) -> None:
    await spa_client(admin_ctx)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for path in ("/oauth/token", "/oauth/revoke", "/oauth/userinfo"):
            answer = await http.options(
                path,
                headers={
                    "Origin": SPA,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type",
                },
            )
            assert answer.status_code == 204, path
            assert allowed_origin(answer) == SPA
            assert "POST" in answer.headers["access-control-allow-methods"]
            assert "content-type" in answer.headers["access-control-allow-headers"].lower()
            assert "access-control-allow-credentials" not in answer.headers
        stranger = await http.options(
            "/oauth/token",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert stranger.status_code == 204 and allowed_origin(stranger) is None


async def test_answers_carry_the_origin_only_for_registered_origins(
    server: ServerProcess, admin_ctx: Context
) -> None:
    await spa_client(admin_ctx)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        refused = await http.post(
            "/oauth/token", data={"grant_type": "refresh_token"}, headers={"Origin": SPA}
        )
        assert refused.status_code == 401 and allowed_origin(refused) == SPA  # errors too
        assert refused.headers["vary"] == "Origin"
        for path in ("/.well-known/openid-configuration", "/oauth/jwks"):
            found = await http.get(path, headers={"Origin": SPA})
            assert allowed_origin(found) == SPA, path
        for origin in ("https://evil.example", "https://spa.example:443", "null", SPA + "/"):
            other = await http.get("/.well-known/openid-configuration", headers={"Origin": origin})
            assert allowed_origin(other) is None, origin
        # Not an endpoint browser applications call from their own origin.
        page = await http.get("/login", headers={"Origin": SPA})
        assert allowed_origin(page) is None


async def test_an_origin_added_to_a_client_works_within_a_second(
    server: ServerProcess, admin_ctx: Context
) -> None:
    client_id = await spa_client(admin_ctx, "https://first.example")
    await update_client(
        admin_ctx, client_id, {"allowed_origins": ("https://later.example",)}, actor="cli"
    )
    deadline = time.monotonic() + 3  # origins are read again at most once a second
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        while True:
            answer = await http.get(
                "/.well-known/openid-configuration", headers={"Origin": "https://later.example"}
            )
            if allowed_origin(answer) is not None or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    assert allowed_origin(answer) == "https://later.example"
