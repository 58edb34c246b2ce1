"""The hand-written OpenAPI description of the public routes is valid and complete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from keyturn.config import Secret, Settings
from keyturn.http.app import KeyturnApp
from keyturn.http.openapi_public import public_components, public_paths, public_tags
from keyturn.oauth.errors import InvalidGrant, InvalidRequest
from tests.support import SECRET_KEY

# Served by the application once the document is; listed before that.
NOT_YET_ROUTED = {"/openapi.json"}
# The admin API describes itself (generated from its models); it is merged separately.
ADMIN_PREFIX = "/admin"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
TAGS = {"oauth", "oidc", "signup", "pages", "operations"}


@pytest.fixture
def app(tmp_path: Path) -> KeyturnApp:
    return KeyturnApp(Settings(data_dir=str(tmp_path), secret_key=Secret(SECRET_KEY)))


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "keyturn", "version": "0"},
        "tags": public_tags(),
        "paths": public_paths(),
        "components": public_components(),
    }


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in public_paths().items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def public_routes(app: KeyturnApp) -> dict[str, dict[str, Any]]:
    return {
        path: dict(methods)
        for path, methods in app.routes.items()
        if path != ADMIN_PREFIX and not path.startswith(ADMIN_PREFIX + "/")
    }


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(document())


def test_every_route_method_has_an_operation(app: KeyturnApp) -> None:
    paths = public_paths()
    missing = [
        f"{method} {path}"
        for path, methods in public_routes(app).items()
        for method in methods
        if method.lower() not in paths.get(path, {})
    ]
    assert not missing, f"routes without an operation: {missing}"


def test_every_operation_is_a_route(app: KeyturnApp) -> None:
    routes = public_routes(app)
    extra = [
        f"{method.upper()} {path}"
        for path, method, _ in operations()
        if path not in NOT_YET_ROUTED and method.upper() not in routes.get(path, {})
    ]
    assert not extra, f"operations without a route: {extra}"


def test_operations_have_unique_ids_known_tags_and_explicit_security() -> None:
    ids = [operation["operationId"] for _, _, operation in operations()]
    assert len(ids) == len(set(ids))
    for path, method, operation in operations():
        where = f"{method.upper()} {path}"
        assert operation["tags"] and set(operation["tags"]) <= TAGS, where
        # Explicit, so a document-wide default added by a merge never applies.
        assert "security" in operation, where
        assert operation["responses"], where
    assert {tag["name"] for tag in public_tags()} == TAGS


def _resolve(item: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in item:
        kind, name = item["$ref"].removeprefix("#/components/").split("/")
        item = components[kind][name]
    return item


def _references(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def test_every_reference_resolves() -> None:
    # The validator does not follow references it never needs to read.
    components = public_components()
    for reference in set(_references(document())):
        kind, name = reference.removeprefix("#/components/").split("/")
        assert name in components.get(kind, {}), reference


def test_every_response_has_a_description_and_a_request_id() -> None:
    components = public_components()
    for path, method, operation in operations():
        for status, response in operation["responses"].items():
            where = f"{method.upper()} {path} {status}"
            resolved = _resolve(response, components)
            assert resolved["description"], where
            assert "X-Request-Id" in resolved.get("headers", {}), where


def test_pages_answer_html_and_redirects_name_a_location() -> None:
    components = public_components()
    for path, method, operation in operations():
        if "pages" not in operation["tags"] or path.startswith("/static/"):
            continue
        for status, response in operation["responses"].items():
            resolved = _resolve(response, components)
            where = f"{method.upper()} {path} {status}"
            if status.startswith("3"):
                assert "Location" in resolved["headers"], where
                assert "content" not in resolved, where
            elif int(status) < 413:
                assert list(resolved["content"]) == ["text/html"], where


def _validator(schema_name: str) -> OAS31Validator:
    root = {
        "$ref": f"#/components/schemas/{schema_name}",
        "components": public_components(),
    }
    return OAS31Validator(root)


def test_the_discovery_document_matches_its_schema(app: KeyturnApp) -> None:
    _validator("ServerMetadata").validate(app.metadata)


@pytest.mark.parametrize(
    "error",
    [InvalidGrant(reason="reuse_detected"), InvalidRequest('Bad "quoted" \\ text é.')],
)
def test_oauth_error_bodies_match_their_schema(error: InvalidRequest | InvalidGrant) -> None:
    _validator("OAuthError").validate(error.body())


def test_a_token_request_needs_the_grant_s_own_parameters() -> None:
    validator = _validator("TokenRequest")
    assert validator.is_valid({"grant_type": "client_credentials", "client_id": "c"})
    assert not validator.is_valid({"grant_type": "authorization_code", "code": "x"})
    assert validator.is_valid(
        {"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://a.example/"}
    )
    assert not validator.is_valid({"grant_type": "password"})
