"""Calls to the token and revocation endpoints: client authentication and retries.

Network errors and 5xx are retried with a jittered exponential back-off, a 429
after its Retry-After. A refresh whose response was lost is retried with the
same refresh token; the server's grace window answers it with the same tokens.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from keyturn.client._errors import TokenRefreshError
from keyturn.client._policies import RetryPolicy

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")


class InvalidGrant(Exception):
    """The server refused the grant for good (`invalid_grant`)."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.description = description


class TokenEndpointClient:
    """One HTTP client per manager, opened on first use inside its event loop."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | None,
        auth_method: str | None,
        retry: RetryPolicy,
        transport: httpx.AsyncBaseTransport | None,
        clock: Callable[[], float],
    ) -> None:
        method = auth_method or ("client_secret_basic" if client_secret else "none")
        if method not in AUTH_METHODS:
            raise ValueError(f"unsupported token_endpoint_auth_method {method!r}")
        self._client_id = client_id
        self._client_secret = client_secret
        self._auth_method = method
        self._retry = retry
        self._transport = transport
        self._clock = clock
        self._http: httpx.AsyncClient | None = None
        # Server clock minus ours; only needed for tokens that carry an absolute exp.
        self.server_skew = 0.0

    def client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._retry.timeout, transport=self._transport)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

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
            raw = f"{quote(self._client_id, safe='')}:{quote(self._client_secret or '', safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
        else:
            form["client_id"] = self._client_id
            if self._auth_method == "client_secret_post":
                form["client_secret"] = self._client_secret or ""
        return headers

    async def post(self, url: str, form: dict[str, str]) -> dict[str, Any]:
        """POST the form with client authentication; the JSON answer of a 200.

        Raises InvalidGrant for `invalid_grant`, TokenRefreshError for any other
        refusal and once the attempts are used up.
        """
        http = self.client()
        form = dict(form)
        headers = self._client_auth(form)
        retry = self._retry
        problem = "no attempt"
        for attempt in range(retry.attempts):
            try:
                response = await http.post(url, data=form, headers=headers)
            except httpx.TransportError as exc:
                problem = f"network error: {exc!r}"
                await asyncio.sleep(backoff(retry.backoff, attempt))
                continue
            if response.status_code == 429:
                problem = "rate limited (429)"
                await asyncio.sleep(retry_after(response, retry.max_retry_after))
                continue
            if response.status_code >= 500:
                problem = f"server error {response.status_code}"
                await asyncio.sleep(backoff(retry.backoff, attempt))
                continue
            if response.status_code == 200:
                self._observe_skew(response)
                if not response.content:
                    return {}
                body: dict[str, Any] = response.json()
                return body
            error = error_body(response)
            if error.get("error") == "invalid_grant":
                raise InvalidGrant(
                    str(error.get("reason") or "invalid_grant"),
                    str(error.get("error_description", "")),
                )
            raise TokenRefreshError(
                f"{url} answered {response.status_code}: {error.get('error', response.text[:200])}"
            )
        raise TokenRefreshError(f"{url}: gave up after {retry.attempts} attempts ({problem})")


def backoff(base: float, attempt: int) -> float:
    return float(base * 2**attempt * (0.5 + random.random()))


def retry_after(response: httpx.Response, ceiling: float) -> float:
    try:
        return min(ceiling, max(0.0, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


def error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
