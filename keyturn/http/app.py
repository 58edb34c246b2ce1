"""The ASGI application: routing, lifespan and error rendering.

`create_app()` is the factory uvicorn calls in each worker; settings come
from the environment so every worker process builds the same app.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from keyturn import logs
from keyturn.background import DAY, BackgroundWork
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
from keyturn.http.cors import CORS_PATHS, AllowedOrigins, allow, preflight
from keyturn.http.errors import (
    OUTAGE,
    internal_error_response,
    oauth_error_response,
    shutting_down_response,
)
from keyturn.http.forwarded import client_address
from keyturn.http.introspect import introspect_endpoint
from keyturn.http.login import LoginPages
from keyturn.http.metrics import (
    OTHER,
    count_security_event,
    count_webhook_delivery,
    metrics_endpoint,
    observe_pool,
    observe_request,
    start_series,
)
from keyturn.http.revoke import revoke_endpoint
from keyturn.http.signup import signup_endpoint
from keyturn.http.token import token_endpoint
from keyturn.http.two_step import TwoStepPages
from keyturn.http.userinfo import jwks_endpoint, userinfo_endpoint
from keyturn.http.web import Web
from keyturn.notify.delivery import Deliverer
from keyturn.notify.mail import Mailer
from keyturn.oauth.context import Context
from keyturn.oauth.discovery import server_metadata
from keyturn.oauth.errors import InvalidRequest, OAuthError
from keyturn.oauth.secrets import derive_key
from keyturn.runtime import CSRF_PURPOSE, open_context
from keyturn.store.base import Store, StoreUnavailable
from keyturn.tracing import TracedStore, Tracing, tracing_from_environment

if TYPE_CHECKING:
    from fastapi import FastAPI

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
    """Liveness: the process serves. It says nothing about the database, on purpose: an
    orchestrator restarting every instance during a database outage helps nobody."""
    return json_response({"status": "ok"}, no_store=False)


READY_TIMEOUT = 2.0
# Answers that say nothing about the database, so they cannot end an outage.
_NO_DATABASE = frozenset(
    {
        "/healthz",
        "/metrics",
        "/static/keyturn.css",
        "/oauth/jwks",
        "/openapi.json",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    }
)
ADMIN_PREFIX = "/admin/v1"


def _is_admin(path: str) -> bool:
    return path.startswith("/admin/")


# Pool gauges are set by every worker this often (and by the one answering a scrape).
POOL_OBSERVE_SECONDS = 5.0
# How often each process looks for events to fan out and deliveries that are due.
DELIVERY_POLL_SECONDS = 1.0
MANAGEMENT_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


async def readyz(_request: Request, ctx: Context) -> Response:
    """Readiness: the database answers within READY_TIMEOUT, so a load balancer sends
    requests elsewhere while it does not."""
    try:
        await asyncio.wait_for(ctx.store.ping(), READY_TIMEOUT)
    except TimeoutError:
        reason = f"the database did not answer within {READY_TIMEOUT:g} s"
    except StoreUnavailable as exc:
        reason = f"the database is unavailable: {type(exc.__cause__ or exc).__name__}"
    else:
        return json_response({"status": "ready"})
    return json_response({"status": "unavailable", "reason": reason}, 503)


# A caller's request id is echoed when it is this plain; otherwise one is made up.
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")


@dataclass(frozen=True, slots=True)
class Route:
    path: str
    methods: dict[str, Handler]
    # The discovery metadata name this route answers to (RFC 8414 §2), if any.
    metadata: str | None = None


class KeyturnApp:
    def __init__(
        self,
        settings: Settings,
        *,
        tracing: Tracing | None = None,
        freeze_after_start: bool = False,
    ) -> None:
        self.settings = settings
        self.tracing = tracing
        # A serving worker's process is its own (see _freeze_what_start_up_made); an
        # app embedded in a longer-lived process, such as a test, leaves the collector be.
        self.freeze_after_start = freeze_after_start
        self.trusted_proxies = settings.trusted_networks
        self.access_log = settings.access_log
        self.access = logs.AccessLog(settings.log_format)
        self.management_port = settings.management_port
        self.ctx: Context | None = None
        web = Web(
            csrf_key=derive_key(master_secret(settings), CSRF_PURPOSE),
            secure_cookies=settings.issuer_url.startswith("https://"),
        )
        login, authorize, account = LoginPages(web), AuthorizePages(web), AccountPages(web)
        two_step = TwoStepPages(web, account)
        table = [
            Route("/oauth/token", {"POST": token_endpoint}, "token_endpoint"),
            Route("/oauth/revoke", {"POST": revoke_endpoint}, "revocation_endpoint"),
            Route("/oauth/introspect", {"POST": introspect_endpoint}, "introspection_endpoint"),
            Route(
                "/oauth/authorize",
                {"GET": authorize.start, "POST": authorize.decide},
                "authorization_endpoint",
            ),
            Route(
                "/oauth/userinfo",
                {"GET": userinfo_endpoint, "POST": userinfo_endpoint},
                "userinfo_endpoint",
            ),
            Route("/oauth/jwks", {"GET": jwks_endpoint}, "jwks_uri"),
            Route("/v1/user/signup/registration_code", {"POST": signup_endpoint}),
            Route("/.well-known/oauth-authorization-server", {"GET": self._discovery}),
            Route("/.well-known/openid-configuration", {"GET": self._discovery}),
            Route("/login", {"GET": login.show, "POST": login.submit}),
            Route("/logout", {"POST": login.logout}),
            Route("/account", {"GET": account.show}),
            Route("/account/revoke", {"POST": account.revoke}),
            Route("/account/enhanced-security", {"POST": account.enhanced_security}),
            Route("/account/password", {"POST": account.change_password}),
            Route("/account/claim", {"GET": account.show_claim, "POST": account.claim}),
            Route("/login/two-step", {"GET": two_step.show_code, "POST": two_step.submit_code}),
            Route("/account/two-step", {"GET": two_step.show_intro}),
            Route("/account/two-step/setup", {"POST": two_step.start_setup}),
            Route("/account/two-step/verify", {"POST": two_step.confirm_setup}),
            Route("/account/two-step/off", {"POST": two_step.turn_off}),
            Route("/static/keyturn.css", {"GET": stylesheet}),
            Route("/healthz", {"GET": healthz}),
            Route("/readyz", {"GET": readyz}),
            Route("/metrics", {"GET": metrics_endpoint}),
            Route("/openapi.json", {"GET": self._openapi}),
        ]
        # path -> method -> handler
        self.routes: dict[str, dict[str, Handler]] = {r.path: r.methods for r in table}
        self.metadata = server_metadata(
            settings.issuer_url, {r.metadata: r.path for r in table if r.metadata}
        )
        self._discovery_response = json_response(self.metadata, no_store=False)
        self.background: BackgroundWork | None = None
        self._admin_api: FastAPI | None = None
        self._openapi_body: bytes | None = None
        self.deliverer: Deliverer | None = None
        self.origins = AllowedOrigins()

    def _log_request(self, scope: Scope, status: int, seconds: float) -> None:
        client = scope.get("client")
        fields: dict[str, object] = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "ip": logs.client_ip.get() or (client[0] if client else None),
        }
        ended = logs.outcome.get()
        if ended is not None:
            fields["error"], detail = ended
            if detail:
                fields["detail"] = detail
        self.access.write(fields)

    def _listener_serves(self, scope: Scope) -> bool:
        """With a management port, it serves only the management paths, and /metrics
        is served only there (operators keep it off the public listener)."""
        server = scope.get("server")
        on_management = server is not None and server[1] == self.management_port
        if on_management:
            return bool(scope["path"] in MANAGEMENT_PATHS or _is_admin(scope["path"]))
        return bool(scope["path"] != "/metrics")

    async def _discovery(self, _request: Request, _ctx: Context) -> Response:
        return self._discovery_response

    @property
    def admin_api(self) -> FastAPI:
        """The admin API, built on first use: FastAPI and its models take half a second
        to import, which a server nobody administers over HTTP need not pay."""
        if self._admin_api is None:
            from keyturn.http.admin import build_admin_api

            self._admin_api = build_admin_api(lambda: self.ctx, self.settings)
        return self._admin_api

    async def _openapi(self, _request: Request, _ctx: Context) -> Response:
        """The OpenAPI document of every endpoint, built on first request."""
        if self._openapi_body is None:
            from keyturn.http.openapi import build_document, render

            self._openapi_body = render(build_document(self.admin_api))
        return Response(200, self._openapi_body, [(b"content-type", b"application/json")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.tracing is None:
                await self._http(scope, receive, send)
            else:
                await self._traced_http(scope, receive, send, self.tracing)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> int:
        started = time.perf_counter()
        rid = request_id(scope)
        logs.request_id.set(rid.decode())
        if _is_admin(scope["path"]) and self._listener_serves(scope):
            status = await self._admin_http(scope, receive, send, rid)
        else:
            try:
                response = await self._respond(scope, receive)
            except asyncio.CancelledError:
                # uvicorn cancels what is still running when --shutdown-timeout ends;
                # answer it (it would send a bare 500 and log a traceback) and end.
                response = shutting_down_response()
            response.headers.append((b"x-request-id", rid))
            await send_response(send, response)
            status = response.status
        if status < 500 and scope["path"] not in _NO_DATABASE:
            OUTAGE.served()
        seconds = time.perf_counter() - started
        observe_request(self._endpoint(scope), scope["method"], status, seconds)
        if self.access_log:
            self._log_request(scope, status, seconds)
        return status

    async def _admin_http(self, scope: Scope, receive: Receive, send: Send, rid: bytes) -> int:
        """The admin API answers itself; this adds the request id and notes the status."""
        status = 500
        started = False

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-request-id", rid)],
                }
            await send(message)

        client = scope.get("client")
        peer = client[0] if client else None
        if self.trusted_proxies:
            headers = dict(scope["headers"])
            forwarded = self.settings.forwarded_header
            peer = client_address(peer, headers, self.trusted_proxies, forwarded)
        logs.client_ip.set(peer)  # the admin API's routes read it
        try:
            await self.admin_api(scope, receive, send_with_id)
        except Exception:
            # Starlette re-raises what its 500 handler already answered and logged.
            if not started:
                await send_response(send, shutting_down_response())
                return 503
        return status

    async def _traced_http(
        self, scope: Scope, receive: Receive, send: Send, tracing: Tracing
    ) -> None:
        with tracing.request_span(scope, self._endpoint(scope)) as span:
            status = await self._http(scope, receive, send)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                from opentelemetry.trace import StatusCode

                span.set_status(StatusCode.ERROR)

    def _endpoint(self, scope: Scope) -> str:
        """The route's path, or "other": unknown paths never make new metric series."""
        path: str = scope["path"]
        if _is_admin(path):
            return ADMIN_PREFIX
        return path if path in self.routes else OTHER

    async def _respond(self, scope: Scope, receive: Receive) -> Response:
        if scope["path"] in CORS_PATHS and self.ctx is not None:
            return await self._cross_origin(scope, receive, self.ctx)
        return await self._route(scope, receive)

    async def _cross_origin(self, scope: Scope, receive: Receive, ctx: Context) -> Response:
        """The endpoints browser applications call, with CORS for registered origins."""
        origin = _origin(scope)
        allowed = origin is not None and await self.origins.allows(ctx.store, origin)
        if scope["method"] == "OPTIONS":
            return preflight(origin, allowed)
        response = await self._route(scope, receive)
        if allowed and origin is not None:
            return allow(response, origin)
        return response

    async def _route(self, scope: Scope, receive: Receive) -> Response:
        route = self.routes.get(scope["path"])
        if self.management_port is not None and not self._listener_serves(scope):
            route = None
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
            request = await read_request(
                scope, receive, self.trusted_proxies, self.settings.forwarded_header
            )
            return await handler(request, self.ctx)
        except OAuthError as error:
            return oauth_error_response(error)
        except BodyTooLarge:
            response = oauth_error_response(InvalidRequest("The request body is too large."))
            response.status = 413
            return response
        except Exception as exc:
            return internal_error_response(exc, unavailable=isinstance(exc, StoreUnavailable))

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
                if self.freeze_after_start:
                    _freeze_what_start_up_made()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        self.ctx = await open_context(self.settings)
        if self.tracing is not None:
            system = "sqlite" if self.settings.embedded else "postgresql"
            traced = TracedStore(self.ctx.store, self.tracing.tracer, system)
            self.ctx.store = cast(Store, traced)
        self.ctx.store.observe_events(count_security_event)
        start_series(self.routes)
        observe_pool(self.ctx)
        self.background = BackgroundWork(
            self.ctx,
            gc_interval=self.settings.gc_interval,
            keep_seconds=self.settings.event_retention_days * DAY,
        )
        self.background.start()
        self.background.every(POOL_OBSERVE_SECONDS, self._observe_pool, "pool gauges")
        mailer = None
        if self.settings.smtp_url:
            mailer = Mailer(self.settings.smtp_url, self.settings.smtp_from)
        self.deliverer = Deliverer(
            self.ctx,
            webhook_key=self.ctx.webhook_key,
            mailer=mailer,
            first_retry=self.settings.webhook_retry_seconds,
            on_outcome=count_webhook_delivery,
            holder=self.background.holder,
        )
        self.background.every(DELIVERY_POLL_SECONDS, self.deliverer.run_once, "deliveries")

    async def _observe_pool(self) -> None:
        if self.ctx is not None:
            observe_pool(self.ctx)

    async def shutdown(self) -> None:
        self.access.flush()
        if self.ctx is not None:
            await self.ctx.recorder.drain()
        if self.tracing is not None:
            self.tracing.shutdown()
        if self.background is not None:
            await self.background.stop()
        if self.deliverer is not None:
            await self.deliverer.close()
        if self.ctx is not None:
            await self.ctx.store.close()


def _origin(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"origin":
            return bytes(value).decode("latin-1")
    return None


def request_id(scope: Scope) -> bytes:
    """The caller's X-Request-Id if it is plain enough to log, else a new random one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _REQUEST_ID.fullmatch(value):
            return bytes(value)
    return secrets.token_hex(8).encode()


def create_app() -> KeyturnApp:
    # `keyturn serve` has already warned about the environment it hands down.
    settings = load_settings(warn=False)
    logs.configure(settings.log_level, settings.log_format)
    return KeyturnApp(settings, tracing=tracing_from_environment(), freeze_after_start=True)


def _freeze_what_start_up_made() -> None:
    """Keep the collector's full passes off everything start-up made.

    The modules, routes, models and connections a worker holds for its whole life
    are most of its objects, and a full collection walks all of them: measured,
    25 ms with every request waiting, about once a second under load, which is
    what the slowest percent of refreshes waited for (p99 at 64 connections 28 to 33
    ms; frozen, 12 to 18 ms, and a full collection 1.5 ms). Frozen objects are never
    walked again (nor freed if they become cyclic garbage, which start-up's do
    not); what requests allocate is collected as before.
    """
    gc.collect()
    gc.freeze()
