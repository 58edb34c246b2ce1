"""Discovery is derived from what the code accepts, so it cannot drift."""

from __future__ import annotations

import pytest

from keyturn.config import Secret, Settings
from keyturn.http.app import KeyturnApp
from keyturn.oauth.discovery import REQUIRED_ENDPOINTS, server_metadata
from tests.support import SECRET_KEY


@pytest.fixture
def app(tmp_path: object) -> KeyturnApp:
    return KeyturnApp(Settings(data_dir=str(tmp_path), secret_key=Secret(SECRET_KEY)))


def test_every_advertised_endpoint_is_a_route(app: KeyturnApp) -> None:
    base = app.settings.issuer_url
    for name in REQUIRED_ENDPOINTS:
        path = app.metadata[name].removeprefix(base)
        assert path in app.routes, f"{name} names {path}, which no route serves"


def test_every_prompt_the_authorization_endpoint_accepts_is_advertised(app: KeyturnApp) -> None:
    # select_account is accepted (and ignored: one account per browser) and listed too.
    assert set(app.metadata["prompt_values_supported"]) == {
        "none",
        "login",
        "consent",
        "select_account",
    }


def test_auth_methods_match_what_client_authentication_reads(app: KeyturnApp) -> None:
    assert app.metadata["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]
    assert "none" not in app.metadata["introspection_endpoint_auth_methods_supported"]


def test_a_missing_endpoint_route_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="userinfo_endpoint"):
        server_metadata("https://id.example", {"token_endpoint": "/oauth/token"})


def test_endpoints_are_built_under_the_issuer_path() -> None:
    endpoints = {name: f"/{name}" for name in REQUIRED_ENDPOINTS}
    metadata = server_metadata("https://id.example/tenant", endpoints)
    assert metadata["token_endpoint"] == "https://id.example/tenant/token_endpoint"
