"""Arbitrary bodies, headers and tokens: always a 4xx JSON error, never a 5xx, no state change."""

from __future__ import annotations

import base64
import os
from typing import Any
from urllib.parse import urlencode

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyturn.http.asgi import MAX_BODY
from keyturn.oauth.context import Context
from keyturn.oauth.keyring import Keyring
from keyturn.oauth.tokens import mint_access_token, mint_refresh_token
from tests.http.helpers import make_partner, user_tokens

FIELDS = [
    "grant_type",
    "refresh_token",
    "client_id",
    "client_secret",
    "scope",
    "token",
    "token_type_hint",
    "email",
    "registration_code",
    "code",
    "redirect_uri",
]
GRANT_TYPES = ["refresh_token", "client_credentials", "registration_code", "password", ""]
FOREIGN_RING = Keyring(mac_keys={999: os.urandom(32)}, current_mac_kid=999)


def forged_tokens() -> st.SearchStrategy[str]:
    grant_ids = st.binary(min_size=16, max_size=16)
    generations = st.integers(0, 2**32 - 1)
    unknown_kid = st.builds(mint_refresh_token, st.just(FOREIGN_RING), grant_ids, generations)
    unknown_kid_access = st.builds(
        mint_access_token, st.just(FOREIGN_RING), grant_ids, generations, st.integers(0, 2**32 - 1)
    )
    random_body = st.binary(min_size=39, max_size=39).map(
        lambda raw: "ktr_" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    )
    return st.one_of(
        unknown_kid,
        unknown_kid_access,
        random_body,
        st.text(max_size=80),
        st.just(""),
        st.just("ktr_"),
        st.just("x" * 100_000),
    )


def values() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(GRANT_TYPES), forged_tokens(), st.text(max_size=300))


def form_bodies() -> st.SearchStrategy[bytes]:
    pairs = st.lists(st.tuples(st.sampled_from(FIELDS), values()), max_size=8)
    encoded = pairs.map(lambda items: urlencode(items).encode())
    return st.one_of(
        encoded,
        st.binary(max_size=2000),
        st.just(b"a=%ff%fe"),
        st.just(b"grant_type=refresh_token&grant_type=refresh_token"),
        st.just(b"x=" + b"y" * 100_000),
    )


def authorization(partner_id: str) -> st.SearchStrategy[bytes | None]:
    def basic(user: str, password: str) -> bytes:
        return b"Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8", "surrogatepass"))

    def sendable(raw: bytes) -> bool:
        # What an HTTP/1.1 client can put on the wire at all (RFC 9110 §5.5).
        return raw == raw.strip() and all(byte >= 0x20 and byte != 0x7F for byte in raw)

    return st.one_of(
        st.none(),
        st.builds(basic, st.just(partner_id), st.text(max_size=60)),
        st.builds(basic, st.text(max_size=40), st.text(max_size=40)),
        st.binary(max_size=200).map(lambda raw: b"Basic " + raw).filter(sendable),
        st.just(b"Bearer kta_x"),
        st.just(b"Basic"),
    )


CONTENT_TYPES = [
    b"application/x-www-form-urlencoded",
    b"application/json",
    b"text/plain",
    b"application/x-www-form-urlencoded; charset=latin-1",
    b"",
    b"\xff\xfe",
]


# What hostile traffic may add: the events that record it (no state changes with them).
OBSERVATIONS = frozenset(
    {"client_auth_failed", "token_scan", "sign_in_failed", "sign_in_throttled"}
)


async def snapshot(ctx: Context) -> tuple[Any, ...]:
    grants = await ctx.store.list_grants(include_inactive=True, now=ctx.clock.now())
    events = await ctx.store.list_events(limit=10_000)
    clients = await ctx.store.list_clients()
    changes = tuple(event for event in events if event.kind not in OBSERVATIONS)
    return tuple(grants), changes, tuple(clients)


def assert_client_error(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert response.headers["cache-control"] == "no-store"


async def test_hostile_requests_get_4xx_and_change_nothing(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    tokens = await user_tokens(http, partner)
    before = await snapshot(admin_ctx)

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.large_base_example,
            HealthCheck.data_too_large,
        ],
    )
    @given(
        path=st.sampled_from(["/oauth/token", "/oauth/revoke", "/oauth/introspect"]),
        body=form_bodies(),
        content_type=st.sampled_from(CONTENT_TYPES),
        auth=authorization(partner.client_id),
    )
    def hostile(path: str, body: bytes, content_type: bytes, auth: bytes | None) -> None:
        headers = [(b"content-type", content_type)]
        if auth is not None:
            headers.append((b"authorization", auth))
        with httpx.Client(base_url=http.base_url, timeout=10) as client:
            response = client.post(path, content=body, headers=headers)
        if response.status_code == 200:
            # Only revoke (quietly) and introspect (inactive) may succeed, and only
            # for an authenticated client; neither may change state here.
            assert path != "/oauth/token", response.text
            return
        assert_client_error(response)

    hostile()
    # The hostile traffic used the partner's id but never its secret: nothing changed,
    # though the failed authentications may have been recorded as what they were.
    assert await snapshot(admin_ctx) == before
    # ...at most ten a minute for the client, not a database write per guess.
    failed = [
        e
        for e in await admin_ctx.store.list_events(limit=10_000)
        if e.kind == "client_auth_failed" and e.client_id == partner.client_id
    ]
    assert len(failed) <= 20  # two one-minute windows at most in this run
    # The real token still works.
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=partner.auth,
    )
    assert response.status_code == 200


async def test_forged_tokens_with_valid_client_change_nothing(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    await user_tokens(http, partner)
    before = await snapshot(admin_ctx)

    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        token=forged_tokens(),
        path=st.sampled_from(["/oauth/token", "/oauth/revoke", "/oauth/introspect"]),
        duplicate=st.booleans(),
    )
    def forged(token: str, path: str, duplicate: bool) -> None:
        name = "refresh_token" if path == "/oauth/token" else "token"
        items = [("grant_type", "refresh_token"), (name, token)]
        if duplicate:
            items.append((name, token))
        with httpx.Client(base_url=http.base_url, timeout=10) as client:
            response = client.post(
                path,
                data=dict(items) if not duplicate else None,
                content=None if not duplicate else urlencode(items).encode(),
                headers={"content-type": "application/x-www-form-urlencoded"},
                auth=partner.auth,
            )
        # A NUL byte makes the form itself malformed (400), whatever the endpoint.
        well_formed = not duplicate and token and "\x00" not in token and len(token) < MAX_BODY
        if path == "/oauth/revoke" and well_formed:
            assert response.status_code == 200
        elif path == "/oauth/introspect" and well_formed:
            assert response.json() == {"active": False}
        else:
            assert_client_error(response)

    forged()
    assert await snapshot(admin_ctx) == before
