"""The admin API: `/admin/v1/…`, a FastAPI application with typed models.

The OAuth endpoints stay on keyturn's own thin ASGI layer for speed; the admin
API has no such constraint, and its pydantic models write its part of the
OpenAPI document. It calls the same operations as the command line and the
pages, as the actor `client:<admin client id>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI

from keyturn import __version__
from keyturn.config import Settings
from keyturn.http.admin import clients, records, users, webhooks
from keyturn.http.admin.models import Problem
from keyturn.http.admin.problems import HANDLERS
from keyturn.oauth.context import Context

PREFIX = "/admin/v1"


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem("The body is not JSON"),
    401: _problem("No bearer token, or not a live token of an enabled admin client"),
    403: _problem("The token lacks the scope the operation needs"),
    404: _problem("No such client, user or grant (or path)"),
    409: _problem("A user with that email exists, or an admin client would lock itself out"),
    422: _problem("Invalid fields, query parameters or cursor"),
    503: _problem("The database is unavailable; retry after Retry-After seconds"),
}


def build_admin_api(context: Callable[[], Context | None], settings: Settings) -> FastAPI:
    api = FastAPI(
        title="keyturn",
        version=__version__,
        openapi_url=None,  # keyturn serves one document for all of its endpoints
        docs_url=None,
        redoc_url=None,
        exception_handlers=HANDLERS,
    )
    api.state.context = context
    api.state.settings = settings
    v1 = APIRouter(prefix=PREFIX, responses=ERRORS)
    for module in (clients, users, records, webhooks):
        v1.include_router(module.router)
    api.include_router(v1)
    return api
