"""Discovery (RFC 8414) from a hostile or careless server: secrets go only to the issuer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from keyturn.client import AsyncTokenManager, DiscoveryError, TokenRefreshError
from tests.client.conftest import FakeClock

ISSUER = "https://idp.example"
SECRET = "client-secret-0123456789-abcdefghij"
REFRESH = "refresh-token-0123456789-abcdefghij"


class HostileServer:
    """Answers discovery with `document`; records every other request it is sent."""

    def __init__(self, document: Any, *, status: int = 200) -> None:
        self.document = document
        self.status = status
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if "/.well-known/" in request.url.path:
            if isinstance(self.document, bytes):
                return httpx.Response(self.status, content=self.document)
            return httpx.Response(self.status, json=self.document)
        self.sent.append(request)
        return httpx.Response(200, json={"access_token": "new", "expires_in": 3600})

    def leaked(self) -> bool:
        """Did any request carry the client secret or the refresh token?"""
        for request in self.sent:
            seen = request.content.decode() + request.headers.get("authorization", "")
            if "Basic " in seen or SECRET in seen or REFRESH in seen:
                return True
        return False


def manager(
    server: HostileServer, clock: FakeClock | None = None, **options: Any
) -> AsyncTokenManager:
    return AsyncTokenManager(
        issuer=options.pop("issuer", ISSUER),
        client_id="app",
        client_secret=SECRET,
        store="memory",
        transport=httpx.MockTransport(server),
        clock=clock or FakeClock(),
        retry_backoff=0.001,
        **options,
    )


def document(**endpoints: str) -> dict[str, str]:
    return {
        "issuer": ISSUER,
        "token_endpoint": f"{ISSUER}/oauth/token",
        "revocation_endpoint": f"{ISSUER}/oauth/revoke",
        "authorization_endpoint": f"{ISSUER}/oauth/authorize",
        **endpoints,
    }


async def test_discovery_naming_another_origin_for_the_token_endpoint_is_refused(
    clock: FakeClock,
) -> None:
    server = HostileServer(document(token_endpoint="https://evil.example/oauth/token"))
    tm = manager(server, clock)
    await tm.save("a", {"access_token": "old", "refresh_token": REFRESH, "expires_in": 60})
    clock.advance(61)
    with pytest.raises(DiscoveryError, match=r"evil\.example"):
        await tm.access_token("a")
    assert server.sent == [] and not server.leaked()
    assert await tm._read("a") is not None  # the tokens are kept
    await tm.aclose()


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://idp.example/oauth/token",  # downgraded to plain http
        "https://idp.example:8443/oauth/token",  # another port
        "https://idp.example.evil.example/oauth/token",  # the issuer as a subdomain
        "https://evil.example/idp.example/oauth/token",  # the issuer as a path
        "https://idp.example@evil.example/oauth/token",  # the issuer as userinfo
        "https://evil.example#@idp.example/oauth/token",  # the issuer as a fragment
        "https://user:pass@idp.example/oauth/token",  # credentials of the server's choosing
        "//evil.example/oauth/token",  # scheme-relative
        "/oauth/token",  # relative
        "ftp://idp.example/oauth/token",
        "https://[::1/oauth/token",  # does not parse
    ],
)
async def test_discovery_naming_a_token_endpoint_off_the_issuer_origin_is_refused(
    endpoint: str,
) -> None:
    server = HostileServer(document(token_endpoint=endpoint))
    tm = manager(server)
    with pytest.raises(DiscoveryError, match="token_endpoint"):
        await tm.endpoints()
    await tm.aclose()


@pytest.mark.parametrize("member", ["revocation_endpoint", "authorization_endpoint"])
@pytest.mark.parametrize(
    "endpoint", ["https://evil.example/x", "http://idp.example/x", "https://idp.example:1/x"]
)
async def test_discovery_naming_another_origin_for_any_endpoint_is_refused(
    member: str, endpoint: str
) -> None:
    server = HostileServer(document(**{member: endpoint}))
    tm = manager(server)
    with pytest.raises(DiscoveryError, match=member):
        await tm.endpoints()
    await tm.aclose()


async def test_revoke_never_sends_the_refresh_token_to_another_origin() -> None:
    server = HostileServer(document(revocation_endpoint="https://evil.example/revoke"))
    tm = manager(server)
    await tm.save("a", {"access_token": "old", "refresh_token": REFRESH, "expires_in": 60})
    with pytest.raises(DiscoveryError):
        await tm.revoke("a")
    assert server.sent == [] and not server.leaked()
    await tm.aclose()


async def test_authorization_url_is_not_built_for_another_origin() -> None:
    server = HostileServer(document(authorization_endpoint="https://evil.example/authorize"))
    tm = manager(server)
    with pytest.raises(DiscoveryError):
        await tm.authorization_url("https://app.example/callback")
    await tm.aclose()


@pytest.mark.parametrize(
    ("issuer", "endpoint"),
    [
        ("https://idp.example", "https://IDP.Example/oauth/token"),  # host case
        ("https://idp.example", "https://idp.example:443/oauth/token"),  # default port
        ("https://idp.example:443", "https://idp.example/oauth/token"),
        ("HTTPS://idp.example", "https://idp.example/oauth/token"),  # scheme case
        ("https://idp.example/tenant", "https://idp.example/oauth/token"),  # issuer with a path
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/oauth/token"),  # loopback, as configured
    ],
)
async def test_discovery_on_the_issuer_origin_is_accepted_after_normal_parsing(
    issuer: str, endpoint: str, clock: FakeClock
) -> None:
    server = HostileServer(
        {"issuer": issuer, "token_endpoint": endpoint, "revocation_endpoint": endpoint}
    )
    tm = manager(server, clock, issuer=issuer)
    await tm.save("a", {"access_token": "old", "refresh_token": REFRESH, "expires_in": 60})
    clock.advance(61)
    assert await tm.access_token("a") == "new"
    assert [str(request.url) for request in server.sent] == [str(httpx.URL(endpoint))]
    await tm.aclose()


async def test_an_explicitly_configured_endpoint_on_another_origin_is_used_as_given(
    clock: FakeClock,
) -> None:
    server = HostileServer(document(token_endpoint="https://evil.example/never-asked"))
    tm = manager(server, clock, token_endpoint="https://tokens.example/token")
    await tm.save("a", {"access_token": "old", "refresh_token": REFRESH, "expires_in": 60})
    clock.advance(61)
    assert await tm.access_token("a") == "new"
    assert [str(request.url) for request in server.sent] == ["https://tokens.example/token"]
    await tm.aclose()


@pytest.mark.parametrize(
    "issuer",
    [
        "https://evil.example",  # another issuer altogether (RFC 8414 §3.3)
        "https://idp.example/other-tenant",
        "https://idp.example.evil.example",
        "http://idp.example",
        None,
        "",
        42,
        ["https://idp.example"],
    ],
)
async def test_discovery_naming_another_issuer_is_refused(issuer: object) -> None:
    server = HostileServer({**document(), "issuer": issuer})
    tm = manager(server)
    with pytest.raises(DiscoveryError, match="issuer"):
        await tm.endpoints()
    await tm.aclose()


async def test_discovery_without_an_issuer_member_is_refused() -> None:
    server = HostileServer({key: value for key, value in document().items() if key != "issuer"})
    tm = manager(server)
    with pytest.raises(DiscoveryError, match="issuer"):
        await tm.endpoints()
    await tm.aclose()


@pytest.mark.parametrize(
    "body",
    [
        b"<html>not json</html>",
        b"[]",
        b'"a string"',
        b"null",
        b'{"issuer": "https://idp.example"}',  # no token_endpoint
        b'{"issuer": "https://idp.example", "token_endpoint": 7}',
        b'{"issuer": "https://idp.example", "token_endpoint": "https://idp.example/t",'
        b' "revocation_endpoint": ["https://idp.example/r"]}',
    ],
)
async def test_a_malformed_discovery_document_is_a_discovery_error_not_a_crash(
    body: bytes,
) -> None:
    tm = manager(HostileServer(body))
    with pytest.raises(DiscoveryError):
        await tm.endpoints()
    await tm.aclose()


async def test_a_discovery_error_still_serves_a_valid_token(clock: FakeClock) -> None:
    """Refusing the metadata is a refresh failure for now: a still-valid token is kept."""
    server = HostileServer(document(token_endpoint="https://evil.example/oauth/token"))
    tm = manager(server, clock)
    await tm.save("a", {"access_token": "old", "refresh_token": REFRESH, "expires_in": 600})
    clock.advance(590)  # due, not expired
    assert await tm.access_token("a") == "old"
    assert server.sent == []
    with pytest.raises(TokenRefreshError):
        clock.advance(20)
        await tm.access_token("a")
    await tm.aclose()
