"""Walk the authorization code flow as a browser would, with httpx and a cookie jar.

The helpers live in testkit.oidc (bench/ and tools/ use them too); re-exported
here so the tests keep importing them from tests.http.oidc_helpers.
"""

from __future__ import annotations

from testkit.oidc import (
    REDIRECT,
    Pkce,
    WebApp,
    answer_consent,
    authorize,
    authorize_params,
    exchange,
    hidden,
    make_user,
    make_web_app,
    query_of,
    sign_in,
)

__all__ = [
    "REDIRECT",
    "Pkce",
    "WebApp",
    "answer_consent",
    "authorize",
    "authorize_params",
    "exchange",
    "hidden",
    "make_user",
    "make_web_app",
    "query_of",
    "sign_in",
]
