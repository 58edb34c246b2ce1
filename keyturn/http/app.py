"""The ASGI application: routing, lifespan and error rendering.

`create_app()` is the factory uvicorn calls in each worker; settings come
from the environment so every worker process builds the same app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

from keyturn.config import Settings, load_settings, master_secret
from keyturn.http.account import AccountPages
from keyturn.http.asgi import (
    BodyTooLarge,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    json_response,
    read_request,
    send_response,
)
from keyturn.http.authorize import AuthorizePages
from keyturn.http.errors import internal_error_response, oauth_error_response
from keyturn.http.introspect import introspect_endpoint
from keyturn.http.login import LoginPages
from keyturn.http.metrics import metrics_endpoint
from keyturn.http.revoke import revoke_endpoint
from keyturn.http.signup import signup_endpoint
from keyturn.http.token import token_endpoint
from keyturn.http.userinfo import jwks_endpoint, userinfo_endpoint
from keyturn.http.web import Web
from keyturn.oauth.context import Context
from keyturn.oauth.discovery import server_metadata
from keyturn.oauth.errors import InvalidRequest, OAuthError
from keyturn.oauth.secrets import derive_key
from keyturn.runtime import CSRF_PURPOSE, open_context
from keyturn.store.base import StoreUnavailable

log = logging.getLogger("keyturn")

Handler = Callable[[Request, Context], Awaitable[Response]]


STATIC = Path(__file__).parent / "static"


async def stylesheet(_request: Request, _ctx: Context) -> Response:
    return Response(
        200,
        (STATIC / "keyturn.css").read_bytes(),
        [
            (b"content-type", b"text/css; charset=utf-8"),
            (b"cache-control", b"public, max-age=3600"),
        ],
    )


async def healthz(_request: Request, _ctx: Context) -> Response:
    return json_response({"status": "ok"}, no_store=False)


# SQLSTATE classes that mean the database cannot serve right now, as opposed to a
# statement it refused: connection exception, insufficient resources, operator
# intervention (shutdown, failover), system error; and a write that reached a
# standby during a failover.
_OUTAGE_SQLSTATE_CLASSES = ("08", "53", "57", "58")
_READ_ONLY_TRANSACTION = "25006"


def _unavailable(exc: BaseException) -> bool:
    """Failures of the database itself, as opposed to bugs or input that slipped through."""
    if isinstance(exc, StoreUnavailable | OSError | sqlite3.OperationalError):
        return True
    if not type(exc).__module__.startswith("asyncpg"):
        return False
    sqlstate = getattr(exc, "sqlstate", None)
    if not isinstance(sqlstate, str):
        return True  # the driver's own connection-state errors carry no SQLSTATE
    return sqlstate.startswith(_OUTAGE_SQLSTATE_CLASSES) or sqlstate == _READ_ONLY_TRANSACTION


class KeyturnApp:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.trusted_proxies = settings.trusted_networks
        self.ctx: Context | None = None
        metadata = server_metadata(settings.issuer_url)
        discovery = json_response(metadata, no_store=False)

        async def discovery_endpoint(_request: Request, _ctx: Context) -> Response:
            return discovery

        web = Web(
            csrf_key=derive_key(master_secret(settings), CSRF_PURPOSE),
            secure_cookies=settings.issuer_url.startswith("https://"),
        )
        login, authorize, account = LoginPages(web), AuthorizePages(web), AccountPages(web)
        # path -> method -> handler
        self.routes: dict[str, dict[str, Handler]] = {
            "/oauth/token": {"POST": token_endpoint},
            "/oauth/revoke": {"POST": revoke_endpoint},
            "/oauth/introspect": {"POST": introspect_endpoint},
            "/oauth/authorize": {"GET": authorize.start, "POST": authorize.decide},
            "/oauth/userinfo": {"GET": userinfo_endpoint, "POST": userinfo_endpoint},
            "/oauth/jwks": {"GET": jwks_endpoint},
            "/v1/user/signup/registration_code": {"POST": signup_endpoint},
            "/.well-known/oauth-authorization-server": {"GET": discovery_endpoint},
            "/.well-known/openid-configuration": {"GET": discovery_endpoint},
            "/login": {"GET": login.show, "POST": login.submit},
            "/logout": {"POST": login.logout},
            "/account": {"GET": account.show},
            "/account/revoke": {"POST": account.revoke},
            "/account/enhanced-security": {"POST": account.enhanced_security},
            "/account/password": {"POST": account.change_password},
            "/account/claim": {"GET": account.show_claim, "POST": account.claim},
            "/static/keyturn.css": {"GET": stylesheet},
            "/healthz": {"GET": healthz},
            "/metrics": {"GET": metrics_endpoint},
        }
        self._background: list[asyncio.Task[None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send_response(send, await self._respond(scope, receive))
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _respond(self, scope: Scope, receive: Receive) -> Response:
        route = self.routes.get(scope["path"])
        if route is None:
            return json_response({"error": "not_found"}, 404, no_store=False)
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        handler = route.get(method)
        if handler is None:
            return json_response(
                {"error": "invalid_request", "error_description": "Method not allowed."},
                405,
                headers={"Allow": ", ".join(sorted(route))},
            )
        assert self.ctx is not None, "lifespan start did not run"
        try:
            request = await read_request(scope, receive, self.trusted_proxies)
            return await handler(request, self.ctx)
        except OAuthError as error:
            return oauth_error_response(error)
        except BodyTooLarge:
            response = oauth_error_response(InvalidRequest("The request body is too large."))
            response.status = 413
            return response
        except Exception as exc:
            return internal_error_response(exc, unavailable=_unavailable(exc))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        self.ctx = await open_context(self.settings)
        self._background.append(asyncio.create_task(self._collect_garbage()))
        self._background.append(asyncio.create_task(self._reload_keys()))

    async def shutdown(self) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.ctx is not None:
            await self.ctx.store.close()

    async def _collect_garbage(self) -> None:
        """Purge expired and revoked grants and old events in bounded batches."""
        assert self.ctx is not None
        interval = self.settings.gc_interval
        while True:
            # Jitter so that many workers do not all purge at the same moment.
            await asyncio.sleep(interval * random.uniform(0.5, 1.5))
            try:
                await collect_garbage(self.ctx)
            except Exception:
                log.exception("background purge failed; will retry")

    async def _reload_keys(self) -> None:
        """Pick up keys rotated by another instance or `keyturn keys rotate`."""
        assert self.ctx is not None
        while True:
            await asyncio.sleep(60 * random.uniform(0.8, 1.2))
            try:
                await self.ctx.keys.reload()
            except Exception:
                log.exception("key reload failed; will retry")


GC_BATCH = 1000
GC_KEEP_SECONDS = 30 * 24 * 3600  # revoked grants and events stay 30 days for audit


async def collect_garbage(ctx: Context, *, keep_seconds: float = GC_KEEP_SECONDS) -> dict[str, int]:
    """Purge until a batch comes back short; yields between batches."""
    total: dict[str, int] = {}
    while True:
        counts = await ctx.store.purge(ctx.clock.now(), batch=GC_BATCH, keep_seconds=keep_seconds)
        for name, count in counts.items():
            total[name] = total.get(name, 0) + count
        if max(counts.values()) < GC_BATCH:
            return total
        await asyncio.sleep(0)


def create_app() -> KeyturnApp:
    # `keyturn serve` has already warned about the environment it hands down.
    return KeyturnApp(load_settings(warn=False))
