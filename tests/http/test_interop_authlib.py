"""Interoperability: Authlib's OAuth 2.0 / OIDC client against a real keyturn server."""

from __future__ import annotations

import secrets

import httpx

# Authlib ships no type information.
from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]
from authlib.jose import JsonWebKey, jwt  # type: ignore[import-untyped]
from authlib.oidc.core import CodeIDToken, IDToken  # type: ignore[import-untyped]

from keyturn.oauth.context import Context
from tests.http.oidc_helpers import REDIRECT, answer_consent, make_user, make_web_app, sign_in
from tests.support import ServerProcess


async def test_authlib_client_completes_code_flow_refreshes_and_revokes(
    server: ServerProcess, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx)
    email = await make_user(admin_ctx)
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        assert (await sign_in(browser, email, "correct horse battery")).status_code == 303
        metadata = (await browser.get("/.well-known/openid-configuration")).json()
        jwks = JsonWebKey.import_key_set((await browser.get("/oauth/jwks")).json())

        client = AsyncOAuth2Client(
            client_id=app.client_id,
            client_secret=app.client_secret,
            scope="openid offline_access email",
            redirect_uri=REDIRECT,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
        )
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(8)
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        # The person: consent once in the browser session.
        page = await browser.get(url)
        decided = await answer_consent(browser, page)
        callback = decided.headers["location"]

        token = await client.fetch_token(
            metadata["token_endpoint"],
            authorization_response=callback,
            code_verifier=verifier,
            state=state,
        )
        claims = jwt.decode(
            token["id_token"],
            jwks,
            claims_cls=CodeIDToken,
            claims_options={"iss": {"value": metadata["issuer"]}},
            claims_params={
                "nonce": nonce,
                "client_id": app.client_id,
                "access_token": token["access_token"],
            },
        )
        claims.validate()

        refreshed = await client.refresh_token(
            metadata["token_endpoint"], refresh_token=token["refresh_token"]
        )
        assert refreshed["refresh_token"] != token["refresh_token"]
        again = jwt.decode(
            refreshed["id_token"],
            jwks,
            claims_cls=IDToken,
            claims_options={"iss": {"value": metadata["issuer"]}},
            claims_params={"client_id": app.client_id},
        )
        again.validate()
        assert again["sub"] == claims["sub"] and again["auth_time"] == claims["auth_time"]

        revoked = await client.revoke_token(
            metadata["revocation_endpoint"],
            token=refreshed["refresh_token"],
            token_type_hint="refresh_token",
        )
        assert revoked.status_code == 200
        dead = await browser.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
            auth=(app.client_id, app.client_secret or ""),
        )
        assert dead.json()["reason"] == "revoked_by_client"
        await client.aclose()
