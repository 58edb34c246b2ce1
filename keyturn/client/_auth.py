"""httpx integration: bearer auth that refreshes ahead of expiry and once after a 401."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Protocol

import httpx


class TokenSource(Protocol):
    """What BearerAuth needs of a manager (TokenManager is one)."""

    def access_token(self, account: str) -> str: ...
    def refresh_rejected(self, account: str, rejected_access_token: str) -> str: ...


class AsyncTokenSource(Protocol):
    """What AsyncBearerAuth needs of a manager (AsyncTokenManager is one)."""

    async def access_token(self, account: str) -> str: ...
    async def refresh_rejected(self, account: str, rejected_access_token: str) -> str: ...


def _rejected(response: httpx.Response) -> bool:
    """A 401 about the token itself (RFC 6750 §3.1), not some other refusal."""
    if response.status_code != 401:
        return False
    challenge = response.headers.get("www-authenticate", "")
    return not challenge or "invalid_token" in challenge or challenge.lower().startswith("bearer")


class BearerAuth(httpx.Auth):
    """For `httpx.Client`: refreshing does I/O, so the sync and async flows differ."""

    requires_request_body = True

    def __init__(self, manager: TokenSource, account: str) -> None:
        self._manager = manager
        self._account = account

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._manager.access_token(self._account)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if _rejected(response):
            token = self._manager.refresh_rejected(self._account, token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        raise RuntimeError("TokenManager.auth() is for httpx.Client; use AsyncTokenManager")
        yield request  # pragma: no cover


class AsyncBearerAuth(httpx.Auth):
    """For `httpx.AsyncClient`."""

    requires_request_body = True

    def __init__(self, manager: AsyncTokenSource, account: str) -> None:
        self._manager = manager
        self._account = account

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("AsyncTokenManager.auth() is for httpx.AsyncClient; use TokenManager")
        yield request  # pragma: no cover

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._manager.access_token(self._account)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if _rejected(response):
            token = await self._manager.refresh_rejected(self._account, token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request
