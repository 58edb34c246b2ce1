"""AsyncTokenManager: many users' tokens, kept fresh, refreshed once.

Single flight: a refresh of one account happens under an in-process lock and
the store's lease, and re-reads the record once it holds both, so threads,
tasks, processes and hosts sharing a store never refresh one token twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from keyturn.client._auth import AsyncBearerAuth
from keyturn.client._authorization import (
    DEFAULT_SCOPE,
    AuthorizationStart,
    code_exchange_form,
    start_authorization,
)
from keyturn.client._endpoints import Endpoints, discover
from keyturn.client._errors import ReauthorizationRequired, TokenRefreshError
from keyturn.client._http import InvalidGrant, TokenEndpointClient
from keyturn.client._policies import LockPolicy, RefreshPolicy, RetryPolicy, resolve_policies
from keyturn.client._records import TokenRecord
from keyturn.client._reencrypt import reseal_all
from keyturn.client._sealing import sealer_for
from keyturn.client._vault import Vault
from keyturn.client.stores import TokenStore
from keyturn.client.stores._base import locked

ReauthCallback = Callable[[str], object]
UpdateCallback = Callable[[str, TokenRecord], object]

DEFAULT_STORE = "sqlite:///keyturn-tokens.db"


class AsyncTokenManager:
    """Tokens of many accounts in one store; `refresh=`, `retry=` and `lock=` tune it
    (or their flat keywords: `cache_seconds=`, `timeout=`, `lock_lease=` …)."""

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
        if issuer is None and token_endpoint is None:
            raise ValueError("give issuer= (for discovery) or token_endpoint=")
        sealer = sealer_for(store, encryption_keys)
        self._refresh_policy, retry_policy, self._lock_policy = resolve_policies(
            refresh=refresh,
            retry=retry,
            lock=lock,
            background_refresh=background_refresh,
            cache_seconds=cache_seconds,
            timeout=timeout,
            retry_backoff=retry_backoff,
            lock_timeout=lock_timeout,
            lock_lease=lock_lease,
        )
        self._http = TokenEndpointClient(
            client_id=client_id,
            client_secret=client_secret,
            auth_method=token_endpoint_auth_method,
            retry=retry_policy,
            transport=transport,
            clock=clock,
        )
        self.client_id = client_id
        self._issuer = issuer
        self._endpoints = (
            Endpoints(token_endpoint, revocation_endpoint, authorization_endpoint, issuer)
            if token_endpoint
            else None
        )
        self._vault = Vault(store, sealer, self._refresh_policy.cache_seconds)
        self._sealer = self._vault.sealer
        self.cache = self._vault.cache  # account -> (record, monotonic read time)
        self._on_reauth = on_reauthorization_required
        self._on_update = on_token_update
        self._clock = clock
        self._local_locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def server_skew(self) -> float:
        """The server's clock minus ours, from the token endpoint's Date header."""
        return self._http.server_skew

    @server_skew.setter
    def server_skew(self, value: float) -> None:
        self._http.server_skew = value

    # -- plumbing ----------------------------------------------------------

    async def _ready(self) -> TokenStore:
        self._http.client()
        return await self._vault.open()

    async def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            await self._ready()
            assert self._issuer is not None
            self._endpoints = await discover(self._http.client(), self._issuer)
        return self._endpoints

    def _local_lock(self, account: str) -> asyncio.Lock:
        lock = self._local_locks.get(account)
        if lock is None:
            lock = self._local_locks[account] = asyncio.Lock()
        return lock

    async def _read(self, account: str) -> TokenRecord | None:
        await self._ready()
        return await self._vault.read(account)

    async def _write(self, account: str, record: TokenRecord) -> None:
        await self._ready()
        await self._vault.write(account, record)
        if self._on_update is not None:
            await _maybe_await(self._on_update(account, record))

    def cached(self, account: str) -> TokenRecord | None:
        """A record read within `cache_seconds` that needs no refresh yet, else None."""
        return self._vault.cached(account, self._clock)

    # -- public API --------------------------------------------------------

    async def save(self, account: str, token_response: dict[str, Any]) -> TokenRecord:
        """Store what a token endpoint returned for `account`."""
        record = TokenRecord.from_response(token_response, now=self._clock())
        await self._write(account, record)
        return record

    async def token(self, account: str) -> TokenRecord:
        """The account's valid token set, refreshed if it is due."""
        record = self.cached(account) or await self._read(account)
        if record is None:
            raise await self._reauthorize(account, "no_tokens", clear=False)
        now = self._clock()
        if not record.due(now):
            return record
        if self._refresh_policy.background and not record.expired(now) and record.refresh_token:
            self._refresh_in_background(account, record)
            return record
        return await self._refresh(account, record.refresh_token)

    async def access_token(self, account: str) -> str:
        return (await self.token(account)).access_token

    async def refresh_rejected(self, account: str, rejected_access_token: str) -> str:
        """After a 401: refresh unless another caller already replaced that token."""
        record = await self._read(account)
        if record is None:
            raise await self._reauthorize(account, "no_tokens", clear=False)
        if record.access_token != rejected_access_token:
            return record.access_token
        return (await self._refresh(account, record.refresh_token, force=True)).access_token

    async def forget(self, account: str) -> None:
        await self._ready()
        await self._vault.delete(account)

    async def revoke(self, account: str) -> None:
        """Revoke the grant at the server (RFC 7009), then forget it here."""
        record = await self._read(account)
        if record is None:
            return
        endpoints = await self.endpoints()
        if endpoints.revocation is not None:
            token, hint = (
                (record.refresh_token, "refresh_token")
                if record.refresh_token
                else (record.access_token, "access_token")
            )
            await self._http.post(endpoints.revocation, {"token": token, "token_type_hint": hint})
        await self.forget(account)

    async def reencrypt(self) -> int:
        """Re-seal every record under the newest key; returns how many changed."""
        return await reseal_all(await self._ready(), self._sealer, self._lock_policy)

    def auth(self, account: str) -> httpx.Auth:
        return AsyncBearerAuth(self, account)

    async def authorization_url(
        self, redirect_uri: str, scope: str = DEFAULT_SCOPE, **extra: str
    ) -> AuthorizationStart:
        """Start the code flow with PKCE (RFC 7636): send the person to `.url`."""
        endpoints = await self.endpoints()
        return start_authorization(
            endpoints.authorization, self.client_id, redirect_uri, scope, extra
        )

    async def complete_authorization(
        self, account: str, start: AuthorizationStart, callback_params: dict[str, str]
    ) -> TokenRecord:
        """Check `state`, exchange the code, and store the tokens for `account`."""
        form = code_exchange_form(account, start, callback_params)
        response = await self._http.post((await self.endpoints()).token, form)
        record = TokenRecord.from_response(
            response, now=self._clock(), server_skew=self.server_skew
        )
        await self._write(account, record)
        return record

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self._http.aclose()
        await self._vault.close()

    # -- refreshing --------------------------------------------------------

    def _refresh_in_background(self, account: str, record: TokenRecord) -> None:
        if self._local_lock(account).locked():
            return
        task = asyncio.get_running_loop().create_task(self._refresh(account, record.refresh_token))
        self._tasks.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # the foreground path will meet it again; don't warn twice

    async def _refresh(
        self, account: str, seen_refresh_token: str | None, *, force: bool = False
    ) -> TokenRecord:
        store = await self._ready()
        lock = self._lock_policy
        async with (
            self._local_lock(account),
            locked(store, account, timeout=lock.timeout, lease=lock.lease),
        ):
            current = await self._read(account)
            if current is None:
                raise await self._reauthorize(account, "no_tokens", clear=False)
            now = self._clock()
            # Someone else refreshed while we waited for the lock: use theirs.
            if current.refresh_token != seen_refresh_token or (not force and not current.due(now)):
                return current
            if current.refresh_token is None:
                if current.expired(now) or force:
                    raise await self._reauthorize(account, "no_refresh_token")
                return current
            try:
                response = await self._http.post(
                    (await self.endpoints()).token,
                    {"grant_type": "refresh_token", "refresh_token": current.refresh_token},
                )
            except InvalidGrant as refused:
                # Another host may have rotated the token outside our lease: look again.
                latest = await self._read(account)
                if latest is not None and latest.refresh_token != current.refresh_token:
                    return latest
                raise await self._reauthorize(
                    account, refused.reason, refused.description
                ) from None
            except TokenRefreshError:
                if not current.expired(self._clock()):
                    return current  # still valid: serve it and try again next time
                raise
            record = TokenRecord.from_response(
                response, now=self._clock(), previous=current, server_skew=self.server_skew
            )
            await self._write(account, record)
            return record

    async def _reauthorize(
        self, account: str, reason: str, description: str = "", *, clear: bool = True
    ) -> ReauthorizationRequired:
        if clear:
            await self.forget(account)
        if self._on_reauth is not None:
            await _maybe_await(self._on_reauth(account))
        return ReauthorizationRequired(account, reason, description)


async def _maybe_await(value: object) -> None:
    if isinstance(value, Awaitable):
        await value
