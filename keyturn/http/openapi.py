"""One OpenAPI 3.1 document for every HTTP endpoint of keyturn, served at /openapi.json.

The OAuth, OpenID, signup, page and probe endpoints are described by hand
(`openapi_public`), since they are served by keyturn's own ASGI layer; the
admin API's part is generated from its pydantic models by FastAPI. The same
document is kept in the repository as docs/openapi.json, and a test fails when
the two differ: `python -m keyturn.http.openapi > docs/openapi.json` writes it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from keyturn import __version__
from keyturn.http.admin.problems import PROBLEM_TYPE
from keyturn.http.cors import CORS_PATHS
from keyturn.http.openapi_public import public_components, public_paths

DESCRIPTION = (
    "keyturn, an OAuth 2.0 / OpenID Connect authorization server built around the "
    "refresh-token lifecycle. The admin API (`/admin/v1`) takes a bearer access token "
    "from the client_credentials grant of an admin client, with the scope "
    "`keyturn:admin:read` to read and `keyturn:admin:write` to change; its errors are "
    "RFC 9457 problem documents."
)


def build_document(admin_api: FastAPI) -> dict[str, Any]:
    generated = get_openapi(
        title="keyturn",
        version=__version__,
        openapi_version="3.1.0",
        routes=admin_api.routes,
    )
    admin_paths = {path: _problems(item) for path, item in generated.get("paths", {}).items()}
    components = public_components()
    for section, entries in generated.get("components", {}).items():
        components.setdefault(section, {}).update(entries)
    paths = public_paths()
    for path in sorted(CORS_PATHS):
        paths[path]["options"] = _preflight(path)
    return {
        "openapi": "3.1.0",
        "info": {"title": "keyturn", "version": __version__, "description": DESCRIPTION},
        "paths": {**paths, **admin_paths},
        "components": components,
    }


def _preflight(path: str) -> dict[str, Any]:
    """The CORS preflight every browser-facing endpoint answers."""

    def header(description: str) -> dict[str, Any]:
        return {"description": description, "schema": {"type": "string"}}

    name = "".join(part.capitalize() for part in path.strip("/.").replace("-", "/").split("/"))
    return {
        "operationId": f"preflight{name}",
        "tags": ["oauth"],
        "summary": "CORS preflight",
        "description": (
            "Answered for every origin; the Access-Control-Allow-* headers are present only "
            "for an origin some client registered in allowed_origins."
        ),
        "security": [],
        "responses": {
            "204": {
                "description": "Preflight answer (no body)",
                "headers": {
                    "X-Request-Id": {"$ref": "#/components/headers/RequestId"},
                    "Access-Control-Allow-Origin": header("The registered origin itself"),
                    "Access-Control-Allow-Methods": header("GET, POST"),
                    "Access-Control-Allow-Headers": header("Authorization, Content-Type"),
                    "Access-Control-Max-Age": header("600"),
                    "Vary": header("Origin"),
                },
            }
        },
    }


def _problems(path_item: dict[str, Any]) -> dict[str, Any]:
    """Error answers of the admin API are problem documents: say so in their media type."""
    for operation in path_item.values():
        for status, response in operation.get("responses", {}).items():
            content = response.get("content", {})
            if status[0] in "45" and "application/json" in content:
                content[PROBLEM_TYPE] = content.pop("application/json")
    return path_item


def render(document: dict[str, Any]) -> bytes:
    """The document as served and as kept in the repository: stable key order."""
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def main() -> None:
    from keyturn.config import Secret, Settings
    from keyturn.http.admin import build_admin_api

    settings = Settings(secret_key=Secret("x" * 32))
    sys.stdout.buffer.write(render(build_document(build_admin_api(lambda: None, settings))))


if __name__ == "__main__":
    main()
