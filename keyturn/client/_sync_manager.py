"""TokenManager: the synchronous face of AsyncTokenManager.

It drives the same code on a private event-loop thread and answers the hot
path (a valid token in its short-lived cache) without a thread hop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx

from keyturn.client._async_manager import (
    DEFAULT_STORE,
    AsyncTokenManager,
    ReauthCallback,
    UpdateCallback,
)
from keyturn.client._auth import BearerAuth
from keyturn.client._authorization import DEFAULT_SCOPE, AuthorizationStart
from keyturn.client._endpoints import Endpoints
from keyturn.client._policies import LockPolicy, RefreshPolicy, RetryPolicy
from keyturn.client._records import TokenRecord
from keyturn.client.stores import TokenStore

T = TypeVar("T")


class TokenManager:
    """The synchronous face: the same manager on a private event-loop thread.

    Safe to share between threads. `access_token()` answers from memory while
    the cached token is fresh (see `cache_seconds`), without a thread hop.
    Takes the same keywords as AsyncTokenManager.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | None = None,
        issuer: str | None = None,
        token_endpoint: str | None = None,
        revocation_endpoint: str | None = None,
        authorization_endpoint: str | None = None,
        store: str | TokenStore = DEFAULT_STORE,
        encryption_keys: list[str] | None = None,
        on_reauthorization_required: ReauthCallback | None = None,
        on_token_update: UpdateCallback | None = None,
        token_endpoint_auth_method: str | None = None,
        background_refresh: bool | None = None,
        cache_seconds: float | None = None,
        lock_timeout: float | None = None,
        lock_lease: float | None = None,
        timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        retry_backoff: float | None = None,
        refresh: RefreshPolicy | None = None,
        retry: RetryPolicy | None = None,
        lock: LockPolicy | None = None,
    ) -> None:
        # Configuration errors raise here, before a thread is started.
        self._async = AsyncTokenManager(
            client_id=client_id,
            client_secret=client_secret,
            issuer=issuer,
            token_endpoint=token_endpoint,
            revocation_endpoint=revocation_endpoint,
            authorization_endpoint=authorization_endpoint,
            store=store,
            encryption_keys=encryption_keys,
            on_reauthorization_required=on_reauthorization_required,
            on_token_update=on_token_update,
            token_endpoint_auth_method=token_endpoint_auth_method,
            background_refresh=background_refresh,
            cache_seconds=cache_seconds,
            lock_timeout=lock_timeout,
            lock_lease=lock_lease,
            timeout=timeout,
            transport=transport,
            clock=clock,
            retry_backoff=retry_backoff,
            refresh=refresh,
            retry=retry,
            lock=lock,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="keyturn-token-manager"
        )
        self._thread.start()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    @property
    def client_id(self) -> str:
        return self._async.client_id

    def save(self, account: str, token_response: dict[str, Any]) -> TokenRecord:
        return self._call(self._async.save(account, token_response))

    def token(self, account: str) -> TokenRecord:
        return self._async.cached(account) or self._call(self._async.token(account))

    def access_token(self, account: str) -> str:
        cached = self._async.cached(account)
        if cached is not None:
            return cached.access_token
        return self._call(self._async.token(account)).access_token

    def refresh_rejected(self, account: str, rejected_access_token: str) -> str:
        return self._call(self._async.refresh_rejected(account, rejected_access_token))

    def revoke(self, account: str) -> None:
        self._call(self._async.revoke(account))

    def forget(self, account: str) -> None:
        self._call(self._async.forget(account))

    def reencrypt(self) -> int:
        return self._call(self._async.reencrypt())

    def endpoints(self) -> Endpoints:
        return self._call(self._async.endpoints())

    def authorization_url(
        self, redirect_uri: str, scope: str = DEFAULT_SCOPE, **extra: str
    ) -> AuthorizationStart:
        return self._call(self._async.authorization_url(redirect_uri, scope, **extra))

    def complete_authorization(
        self, account: str, start: AuthorizationStart, callback_params: dict[str, str]
    ) -> TokenRecord:
        return self._call(self._async.complete_authorization(account, start, callback_params))

    def auth(self, account: str) -> httpx.Auth:
        return BearerAuth(self, account)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._call(self._async.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> TokenManager:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
