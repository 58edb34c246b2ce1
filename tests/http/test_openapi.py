"""The OpenAPI document: served, kept in the repository, complete, and true (schemathesis)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from openapi_spec_validator import validate

from keyturn.config import Secret, Settings
from keyturn.http.admin import PREFIX
from keyturn.http.admin import clients as admin_clients
from keyturn.http.admin import records as admin_records
from keyturn.http.admin import users as admin_users
from keyturn.http.admin import webhooks as admin_webhooks
from keyturn.http.app import KeyturnApp
from keyturn.http.cors import CORS_PATHS
from keyturn.http.openapi import build_document, render
from keyturn.operations.clients import ClientSpec, create_client
from keyturn.runtime import open_admin_store, open_context
from tests.support import SECRET_KEY, ServerProcess, running_server

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"
METHODS = ("get", "post", "put", "patch", "delete", "options")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> KeyturnApp:
    data = tmp_path_factory.mktemp("openapi")
    return KeyturnApp(Settings(data_dir=str(data), secret_key=Secret(SECRET_KEY)))


def test_the_committed_document_is_the_one_the_code_makes(app: KeyturnApp) -> None:
    assert COMMITTED.read_bytes() == render(build_document(app.admin_api)), (
        "docs/openapi.json is stale: python -m keyturn.http.openapi > docs/openapi.json"
    )


def test_the_document_is_valid_openapi_3_1(app: KeyturnApp) -> None:
    document = build_document(app.admin_api)
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_route_and_method_is_described(app: KeyturnApp) -> None:
    paths = build_document(app.admin_api)["paths"]
    served = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    served |= {(path, "options") for path in CORS_PATHS}  # preflights, answered before routing
    for module in (admin_clients, admin_users, admin_records, admin_webhooks):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            served |= {(PREFIX + route.path, method.lower()) for method in route.methods or ()}
    described = {
        (path, method) for path, item in paths.items() for method in item if method in METHODS
    }
    assert served - described == set()
    assert described - served == set()


async def test_the_served_document_is_the_committed_one(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        served = await http.get("/openapi.json")
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    assert served.content == COMMITTED.read_bytes()


def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    """Every operation, with an admin token: no 5xx, only documented status codes and
    content types, and answers that match their schemas. Bounded and seeded."""
    import asyncio

    database = f"sqlite:///{tmp_path / 'k.db'}"
    with running_server(database, tmp_path / "data") as server:
        settings = Settings(
            database=database, data_dir=str(tmp_path / "data"), secret_key=Secret(SECRET_KEY)
        )
        token = asyncio.run(_admin_token(settings, server.base_url))
        command = [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{server.base_url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "10",
            "--seed",
            "1",
            "--workers",
            "1",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        log = server.stop()
    assert done.returncode == 0, done.stdout[-6000:]
    assert "passed" in done.stdout and " failures" not in done.stdout
    assert "Traceback" not in log


async def _admin_token(settings: Settings, base_url: str) -> str:
    store = await open_admin_store(settings)
    try:
        ctx = await open_context(settings, store=store, create=False)
        spec = ClientSpec(name="Schemathesis", admin=True)
        client, secret = await create_client(ctx, spec, actor="cli")
    finally:
        await store.close()
    assert secret is not None
    async with httpx.AsyncClient(base_url=base_url) as http:
        answer = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client.client_id, secret),
        )
    token: str = answer.json()["access_token"]
    return token


def test_the_document_says_what_it_is() -> None:
    document = json.loads(COMMITTED.read_text())
    assert document["info"]["title"] == "keyturn"
    assert {"bearerToken", "clientBasic", "HTTPBearer"} <= set(
        document["components"]["securitySchemes"]
    )
