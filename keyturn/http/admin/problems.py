"""Every admin API error as an RFC 9457 problem document (`application/problem+json`)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from keyturn.operations import Conflict, NotFound, OperationError
from keyturn.store.base import StoreUnavailable

log = logging.getLogger("keyturn.admin")

PROBLEM_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    500: "Internal error",
    503: "Temporarily unavailable",
}


class ApiProblem(Exception):
    """Raised by a route to answer with a problem document."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def problem(
    status: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
) -> JSONResponse:
    title = TITLES.get(status, "Error")
    body: dict[str, Any] = {
        # A relative URI per kind (RFC 9457 §3.1.1), resolved against the issuer.
        "type": f"/problems/{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status, headers=headers, media_type=PROBLEM_TYPE)


async def on_api_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem(exc.status, exc.detail, headers=exc.headers)


async def on_operation_error(_request: Request, exc: Exception) -> JSONResponse:
    status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
    return problem(status, str(exc))


async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
        for error in exc.errors()
    ]
    fields = ", ".join(error["field"] for error in errors)
    return problem(422, f"invalid fields: {fields}", errors=errors)


async def on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
    return problem(exc.status_code, detail, headers=dict(exc.headers or {}))


async def on_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    return problem(503, "the database is unavailable; retry", headers={"Retry-After": "1"})


async def on_internal_error(_request: Request, exc: Exception) -> JSONResponse:
    log.error("internal error in the admin API", exc_info=exc)
    return problem(500, "internal error")


HANDLERS: dict[Any, Any] = {
    ApiProblem: on_api_problem,
    OperationError: on_operation_error,
    RequestValidationError: on_validation_error,
    HTTPException: on_http_error,
    StoreUnavailable: on_unavailable,
    Exception: on_internal_error,
}
