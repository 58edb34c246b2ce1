"""TokenManager and AsyncTokenManager: many users' tokens, kept fresh, refreshed once.

Single flight: a refresh of one account happens under an in-process lock and
the store's lease, and re-reads the record once it holds both, so threads,
tasks, processes and hosts sharing a store never refresh one token twice. The
synchronous manager drives the same code on a private event loop thread and
answers the hot path (a valid token in its short-lived cache) without it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx

from keyturn.client.endpoints import Endpoints, discover
from keyturn.client.errors import ReauthorizationRequired, TokenRefreshError
from keyturn.client.records import TokenRecord
from keyturn.client.redaction import masked_repr
from keyturn.client.sealing import PlainSealer, Sealer
from keyturn.client.stores import TokenStore, open_token_store
from keyturn.client.stores.base import LEASE_SECONDS, locked

T = TypeVar("T")
ReauthCallback = Callable[[str], object]
UpdateCallback = Callable[[str, TokenRecord], object]

DEFAULT_STORE = "sqlite:///keyturn-tokens.db"
MAX_ATTEMPTS = 4
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True, slots=True)
class AuthorizationStart:
    """What to remember between sending the person away and their return."""

    url: str
    state: str
    code_verifier: str
    nonce: str
    redirect_uri: str

    def __repr__(self) -> str:
        # The verifier is what makes a stolen code useless (RFC 7636); state and
        # nonce are in the URL anyway.
        return masked_repr(self, frozenset({"code_verifier"}))


class _InvalidGrant(Exception):
    def __init__(self, reason: str, description: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.description = description


class AsyncTokenManager:
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
        background_refresh: bool = False,
        cache_seconds: float = 1.0,
        lock_timeout: float = 30.0,
        lock_lease: float = LEASE_SECONDS,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        retry_backoff: float = 0.2,
    ) -> None:
        if issuer is None and token_endpoint is None:
            raise ValueError("give issuer= (for discovery) or token_endpoint=")
        if store == "memory" and not encryption_keys:
            self._sealer: Sealer = PlainSealer()
        else:
            if not encryption_keys:
                raise ValueError("encryption_keys is required for every store but 'memory'")
            self._sealer = Sealer(list(encryption_keys))
        method = token_endpoint_auth_method or ("client_secret_basic" if client_secret else "none")
        if method not in ("client_secret_basic", "client_secret_post", "none"):
            raise ValueError(f"unsupported token_endpoint_auth_method {method!r}")
        self.client_id = client_id
        self._client_secret = client_secret
        self._auth_method = method
        self._issuer = issuer
        self._endpoints = (
            Endpoints(token_endpoint, revocation_endpoint, authorization_endpoint, issuer)
            if token_endpoint
            else None
        )
        self._store_spec = store
        self._store: TokenStore | None = None if isinstance(store, str) else store
        self._on_reauth = on_reauthorization_required
        self._on_update = on_token_update
        self._background = background_refresh
        self._cache_seconds = cache_seconds
        self._lock_timeout = lock_timeout
        self._lock_lease = lock_lease
        self._timeout = timeout
        self._transport = transport
        self._clock = clock
        self._retry_backoff = retry_backoff
        self._http: httpx.AsyncClient | None = None
        self._local_locks: dict[str, asyncio.Lock] = {}
        self._opening = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        # account -> (record, monotonic time it was read); the hot path.
        self.cache: dict[str, tuple[TokenRecord, float]] = {}
        # Server clock minus ours; only needed for tokens that carry an absolute exp.
        self.server_skew = 0.0

    # -- plumbing ----------------------------------------------------------

    async def _ready(self) -> tuple[TokenStore, httpx.AsyncClient]:
        if self._store is None or self._http is None:
            # Many tasks may arrive at once: open the store (a pool) exactly once.
            async with self._opening:
                if self._http is None:
                    self._http = httpx.AsyncClient(timeout=self._timeout, transport=self._transport)
                if self._store is None:
                    assert isinstance(self._store_spec, str)
                    self._store = await open_token_store(self._store_spec)
        return self._store, self._http

    async def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            _, http = await self._ready()
            assert self._issuer is not None
            self._endpoints = await discover(http, self._issuer)
        return self._endpoints

    def _local_lock(self, account: str) -> asyncio.Lock:
        lock = self._local_locks.get(account)
        if lock is None:
            lock = self._local_locks[account] = asyncio.Lock()
        return lock

    async def _read(self, account: str) -> TokenRecord | None:
        store, _ = await self._ready()
        blob = await store.load(account)
        if blob is None:
            self.cache.pop(account, None)
            return None
        record = TokenRecord.from_bytes(self._sealer.open(account, blob))
        self.cache[account] = (record, time.monotonic())
        return record

    async def _write(self, account: str, record: TokenRecord) -> None:
        store, _ = await self._ready()
        await store.save(account, self._sealer.seal(account, record.to_bytes()))
        self.cache[account] = (record, time.monotonic())
        if self._on_update is not None:
            await _maybe_await(self._on_update(account, record))

    def cached(self, account: str) -> TokenRecord | None:
        """A record read within `cache_seconds` that needs no refresh yet, else None."""
        entry = self.cache.get(account)
        if entry is None or time.monotonic() - entry[1] > self._cache_seconds:
            return None
        record = entry[0]
        return None if record.due(self._clock()) else record

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
        if self._background and not record.expired(now) and record.refresh_token:
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
        store, _ = await self._ready()
        await store.delete(account)
        self.cache.pop(account, None)

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
            await self._post(endpoints.revocation, {"token": token, "token_type_hint": hint})
        await self.forget(account)

    async def reencrypt(self) -> int:
        """Re-seal every record under the newest key; returns how many changed."""
        store, _ = await self._ready()
        changed = 0
        for account in await store.accounts():
            async with locked(store, account, timeout=self._lock_timeout, lease=self._lock_lease):
                blob = await store.load(account)
                if blob is None or self._sealer.is_current(blob):
                    continue
                await store.save(
                    account, self._sealer.seal(account, self._sealer.open(account, blob))
                )
                changed += 1
        return changed

    def auth(self, account: str) -> httpx.Auth:
        from keyturn.client.auth import AsyncBearerAuth

        return AsyncBearerAuth(self, account)

    async def authorization_url(
        self, redirect_uri: str, scope: str = "openid offline_access", **extra: str
    ) -> AuthorizationStart:
        """Start the code flow with PKCE (RFC 7636): send the person to `.url`."""
        from keyturn.oauth.pkce import s256

        endpoints = await self.endpoints()
        if endpoints.authorization is None:
            raise ValueError("the server publishes no authorization_endpoint")
        start = AuthorizationStart(
            url="",
            state=secrets.token_urlsafe(16),
            code_verifier=secrets.token_urlsafe(48),
            nonce=secrets.token_urlsafe(16),
            redirect_uri=redirect_uri,
        )
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": start.state,
            "nonce": start.nonce,
            "code_challenge": s256(start.code_verifier),
            "code_challenge_method": "S256",
            **extra,
        }
        url = f"{endpoints.authorization}?{urlencode(params)}"
        return AuthorizationStart(url, start.state, start.code_verifier, start.nonce, redirect_uri)

    async def complete_authorization(
        self, account: str, start: AuthorizationStart, callback_params: dict[str, str]
    ) -> TokenRecord:
        """Check `state`, exchange the code, and store the tokens for `account`."""
        if not secrets.compare_digest(callback_params.get("state", ""), start.state):
            raise ValueError("the state does not match: not the request we started")
        if "error" in callback_params:
            raise ReauthorizationRequired(
                account, callback_params["error"], callback_params.get("error_description", "")
            )
        endpoints = await self.endpoints()
        response = await self._post(
            endpoints.token,
            {
                "grant_type": "authorization_code",
                "code": callback_params.get("code", ""),
                "redirect_uri": start.redirect_uri,
                "code_verifier": start.code_verifier,
            },
        )
        record = TokenRecord.from_response(
            response, now=self._clock(), server_skew=self.server_skew
        )
        await self._write(account, record)
        return record

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._http is not None:
            await self._http.aclose()
        if self._store is not None and isinstance(self._store_spec, str):
            await self._store.close()

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
        store, _ = await self._ready()
        async with (
            self._local_lock(account),
            locked(store, account, timeout=self._lock_timeout, lease=self._lock_lease),
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
                response = await self._post(
                    (await self.endpoints()).token,
                    {"grant_type": "refresh_token", "refresh_token": current.refresh_token},
                )
            except _InvalidGrant as refused:
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

    def _observe_skew(self, response: httpx.Response) -> None:
        """The server's clock minus ours, from its Date header (RFC 9110 §6.6.1)."""
        date = response.headers.get("date")
        if date:
            with contextlib.suppress(TypeError, ValueError):
                self.server_skew = parsedate_to_datetime(date).timestamp() - self._clock()

    def _client_auth(self, form: dict[str, str]) -> dict[str, str]:
        headers: dict[str, str] = {"Accept": "application/json"}
        if self._auth_method == "client_secret_basic":
            # RFC 6749 §2.3.1: form-urlencode both parts before Basic encoding.
            raw = f"{quote(self.client_id, safe='')}:{quote(self._client_secret or '', safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
        else:
            form["client_id"] = self.client_id
            if self._auth_method == "client_secret_post":
                form["client_secret"] = self._client_secret or ""
        return headers

    async def _post(self, url: str, form: dict[str, str]) -> dict[str, Any]:
        """POST with retries: back-off on network errors and 5xx, Retry-After on 429.

        A refresh whose response was lost is retried with the same refresh
        token; the server's grace window answers it with the same tokens.
        """
        _, http = await self._ready()
        form = dict(form)
        headers = self._client_auth(form)
        problem = "no attempt"
        for attempt in range(MAX_ATTEMPTS):
            try:
                response = await http.post(url, data=form, headers=headers)
            except httpx.TransportError as exc:
                problem = f"network error: {exc!r}"
                await asyncio.sleep(_backoff(self._retry_backoff, attempt))
                continue
            if response.status_code == 429:
                problem = "rate limited (429)"
                await asyncio.sleep(_retry_after(response))
                continue
            if response.status_code >= 500:
                problem = f"server error {response.status_code}"
                await asyncio.sleep(_backoff(self._retry_backoff, attempt))
                continue
            if response.status_code == 200:
                self._observe_skew(response)
                if not response.content:
                    return {}
                body: dict[str, Any] = response.json()
                return body
            error = _error_body(response)
            if error.get("error") == "invalid_grant":
                raise _InvalidGrant(
                    str(error.get("reason") or "invalid_grant"),
                    str(error.get("error_description", "")),
                )
            raise TokenRefreshError(
                f"{url} answered {response.status_code}: {error.get('error', response.text[:200])}"
            )
        raise TokenRefreshError(f"{url}: gave up after {MAX_ATTEMPTS} attempts ({problem})")


def _backoff(base: float, attempt: int) -> float:
    return float(base * 2**attempt * (0.5 + random.random()))


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _maybe_await(value: object) -> None:
    if isinstance(value, Awaitable):
        await value


class TokenManager:
    """The synchronous face: the same manager on a private event-loop thread.

    Safe to share between threads. `access_token()` answers from memory while
    the cached token is fresh (see `cache_seconds`), without a thread hop.
    """

    def __init__(self, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="keyturn-token-manager"
        )
        self._thread.start()
        self._async = AsyncTokenManager(**options)

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
        self, redirect_uri: str, scope: str = "openid offline_access", **extra: str
    ) -> AuthorizationStart:
        return self._call(self._async.authorization_url(redirect_uri, scope, **extra))

    def complete_authorization(
        self, account: str, start: AuthorizationStart, callback_params: dict[str, str]
    ) -> TokenRecord:
        return self._call(self._async.complete_authorization(account, start, callback_params))

    def auth(self, account: str) -> httpx.Auth:
        from keyturn.client.auth import BearerAuth

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
