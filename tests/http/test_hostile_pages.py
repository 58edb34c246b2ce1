"""Hostile input at /oauth/authorize, the sign-in and claim pages and partner sign-up:
a 4xx in the endpoint's own format (a page, a redirect or JSON), never a 5xx, and
nothing changed. NUL bytes and lone surrogates are the inputs that once reached the
database and came back as a 503 (PostgreSQL) or a 500 (SQLite)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyturn.oauth.context import Context
from tests.http.helpers import client_token, make_partner
from tests.http.oidc_helpers import hidden, make_web_app
from tests.http.test_hostile_input import snapshot

NASTY = ["\x00", "a\x00b", "\ud800", "\udfff", "\x7f", "\u202e", "%00", "\uffff", "x" * 5000]
AUTHORIZE_FIELDS = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
]
PROPERTY = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def texts() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NASTY), st.text(max_size=60), st.just(""))


def encode(pairs: list[tuple[str, str]]) -> bytes:
    """Percent-encode as a hostile client may, lone surrogates included (as WTF-8)."""
    from urllib.parse import quote

    return "&".join(
        f"{quote(k, safe='')}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
        for k, v in pairs
    ).encode()


def assert_page_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code in (302, 303):
        return
    assert response.headers["content-type"].startswith("text/html"), response.headers


def assert_json_error(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.json()["error"]


@pytest.mark.parametrize("value", NASTY)
async def test_authorize_with_nasty_client_id_is_a_400_page(
    http: httpx.AsyncClient, value: str
) -> None:
    query = encode([("response_type", "code"), ("client_id", value)]).decode()
    response = await http.get(f"/oauth/authorize?{query}")
    assert response.status_code == 400, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/login", "/account/claim"])
@pytest.mark.parametrize("value", NASTY)
async def test_sign_in_and_claim_with_nasty_email_are_4xx_pages(
    http: httpx.AsyncClient, path: str, value: str
) -> None:
    page = await http.get(path)
    fields = [
        ("csrf", hidden(page.text, "csrf")),
        ("email", value),
        ("password", "correct horse battery"),
        ("registration_code", value),
        ("new_password", "a long new password"),
    ]
    response = await http.post(
        path,
        content=encode(fields),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", value) for value in NASTY if value != "%00"]  # "%" may stand in an address
    + [("registrationCode", value) for value in ("\x00", "a\x00b", "\ud800", "x" * 5000)],
)
async def test_signup_with_nasty_fields_is_invalid_request(
    http: httpx.AsyncClient, admin_ctx: Context, field: str, value: str
) -> None:
    partner = await make_partner(admin_ctx)
    bearer = await client_token(http, partner)
    body: dict[str, Any] = {"email": "x@example.com", "registrationCode": "code-1234567"}
    body[field] = value if field == "registrationCode" else f"a{value}@example.com"
    raw = json.dumps(body, ensure_ascii=True).encode()  # keeps lone surrogates as \udXXX
    response = await http.post(
        "/v1/user/signup/registration_code",
        content=raw,
        headers={"authorization": f"Bearer {bearer}", "content-type": "application/json"},
    )
    assert_json_error(response)


async def test_hostile_authorization_requests_get_4xx_and_change_nothing(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    app = await make_web_app(admin_ctx)
    before = await snapshot(admin_ctx)
    fields = st.one_of(st.sampled_from(AUTHORIZE_FIELDS), st.text(max_size=10))
    client_ids = st.one_of(st.just(app.client_id), texts())

    @PROPERTY
    @given(
        pairs=st.lists(st.tuples(fields, texts()), max_size=8),
        client_id=client_ids,
        raw=st.binary(max_size=300),
        use_raw=st.booleans(),
    )
    def hostile(pairs: list[tuple[str, str]], client_id: str, raw: bytes, use_raw: bool) -> None:
        from urllib.parse import quote_from_bytes

        query = (
            quote_from_bytes(raw, safe="=&")
            if use_raw
            else encode([("client_id", client_id), *pairs]).decode()
        )
        with httpx.Client(base_url=http.base_url, timeout=10) as client:
            assert_page_answer(client.get(f"/oauth/authorize?{query}"))
            consent = client.post(
                "/oauth/authorize",
                content=encode([("request", query), ("decision", "allow"), *pairs]),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert_page_answer(consent)

    hostile()
    assert await snapshot(admin_ctx) == before


async def test_hostile_page_forms_get_4xx_and_change_nothing(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    before = await snapshot(admin_ctx)
    names = st.sampled_from(
        ["email", "password", "csrf", "return_to", "registration_code", "new_password", "x"]
    )
    paths = st.sampled_from(
        ["/login", "/account/claim", "/logout", "/account/revoke", "/account/password"]
    )

    @PROPERTY
    @given(
        path=paths,
        pairs=st.lists(st.tuples(names, texts()), max_size=6),
        raw=st.binary(max_size=300),
        use_raw=st.booleans(),
        content_type=st.sampled_from(["application/x-www-form-urlencoded", "text/plain", ""]),
    )
    def hostile(
        path: str, pairs: list[tuple[str, str]], raw: bytes, use_raw: bool, content_type: str
    ) -> None:
        with httpx.Client(base_url=http.base_url, timeout=10) as client:
            page = client.get("/login")
            csrf = hidden(page.text, "csrf")
            body = raw if use_raw else encode([("csrf", csrf), *pairs])
            response = client.post(path, content=body, headers={"content-type": content_type})
            assert_page_answer(response)

    hostile()
    assert await snapshot(admin_ctx) == before


async def test_hostile_signup_bodies_get_4xx_json(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    partner = await make_partner(admin_ctx)
    bearer = await client_token(http, partner)
    json_values = st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts()),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts(), inner, max_size=3),
        max_leaves=8,
    )
    bodies = st.one_of(
        st.fixed_dictionaries({"email": json_values, "registrationCode": json_values}),
        json_values,
    ).map(lambda value: json.dumps(value, ensure_ascii=True).encode())

    @PROPERTY
    @given(body=st.one_of(bodies, st.binary(max_size=300)))
    def hostile(body: bytes) -> None:
        with httpx.Client(base_url=http.base_url, timeout=10) as client:
            response = client.post(
                "/v1/user/signup/registration_code",
                content=body,
                headers={"authorization": f"Bearer {bearer}", "content-type": "application/json"},
            )
        if response.status_code == 200:
            return  # a well-formed sign-up may succeed
        assert_json_error(response)

    hostile()
