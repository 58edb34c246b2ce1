"""Seed refresh tokens through each system's own code path (the authorization code flow)."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from keyturn.oauth.pkce import s256
from testkit.oidc import answer_consent, sign_in


async def _redeem(
    browser: httpx.AsyncClient,
    token_endpoint: str,
    auth: tuple[str, str],
    callback: str,
    redirect: str,
    verifier: str,
) -> str:
    """Exchange the code in a callback URL; return the refresh token."""
    code = parse_qs(urlsplit(callback).query)["code"][0]
    token = await browser.post(
        token_endpoint,
        auth=auth,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "code_verifier": verifier,
        },
    )
    return str(token.json()["refresh_token"])


async def keyturn_tokens(
    base: str,
    client_id: str,
    secret: str,
    redirect: str,
    email: str,
    password: str,
    count: int,
    concurrency: int = 16,
) -> list[str]:
    """Sign in once, then run `count` code flows (consent is remembered after the first)."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as browser:
        await sign_in(browser, email, password)

        async def one() -> str:
            verifier = secrets.token_urlsafe(48)
            params = {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect,
                "scope": "offline_access",
                "state": "s",
                "code_challenge": s256(verifier),
                "code_challenge_method": "S256",
            }
            response = await browser.get("/oauth/authorize", params=params)
            if response.status_code == 200:  # first time: the consent page
                response = await answer_consent(browser, response)
            return await _redeem(
                browser,
                "/oauth/token",
                (client_id, secret),
                response.headers["location"],
                redirect,
                verifier,
            )

        first = await one()
        gate = asyncio.Semaphore(concurrency)

        async def limited() -> str:
            async with gate:
                return await one()

        return [first, *await asyncio.gather(*(limited() for _ in range(count - 1)))]


async def code_flow_tokens(
    authorize_endpoint: str,
    token_endpoint: str,
    client_id: str,
    secret: str,
    redirect: str,
    count: int,
    scope: str,
    concurrency: int = 16,
    **extra: str,
) -> list[str]:
    """For peers that sign in and consent by themselves: follow redirects to the code."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> str:
        async with gate, httpx.AsyncClient(timeout=60) as browser:
            verifier = secrets.token_urlsafe(48)
            url = httpx.URL(
                authorize_endpoint
                + "?"
                + urlencode(
                    {
                        "response_type": "code",
                        "client_id": client_id,
                        "redirect_uri": redirect,
                        "scope": scope,
                        "state": "s",
                        "code_challenge": s256(verifier),
                        "code_challenge_method": "S256",
                        **extra,
                    }
                )
            )
            for _ in range(10):
                location = (await browser.get(url)).headers["location"]
                if location.startswith(redirect):
                    break
                url = url.join(location)
            return await _redeem(
                browser, token_endpoint, (client_id, secret), location, redirect, verifier
            )

    return list(await asyncio.gather(*(one() for _ in range(count))))
