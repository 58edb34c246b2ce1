"""The OpenAPI 3.1 description of keyturn's public HTTP interface, written by hand.

Everything but the admin API: the OAuth and OpenID Connect endpoints, partner
sign-up, the server-rendered pages and the operational probes. The handlers are
plain ASGI (no framework generates anything for them), so this module says what
they really answer: every status code a bad request can produce, the content type
of each answer and the headers that come with it. `public_paths()` is the
document's `paths` object and `public_components()` the components those paths
refer to; the admin API's generated description is merged beside them.

Operations that need no credentials say so with an empty `security` list, so a
document-wide default added by the merge never applies to them.
"""

from __future__ import annotations

import copy
from typing import Any

from keyturn.http.asgi import MAX_BODY
from keyturn.http.forms import MAX_FIELDS as MAX_FORM_FIELDS
from keyturn.oauth.grants.registry import grant_types_supported

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
HTML = "text/html"

TAG_DESCRIPTIONS = {
    "oauth": "OAuth 2.0 authorization server endpoints and server metadata.",
    "oidc": "OpenID Connect: UserInfo, signing keys and discovery.",
    "signup": "Partner sign-up: a client creates users who get tokens by registration code.",
    "pages": "Server-rendered HTML pages for people: sign-in, consent and the account.",
    "operations": "Probes, metrics and this description, for operators.",
}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name: str) -> dict[str, str]:
    return _ref("schemas", name)


def _header(name: str) -> dict[str, str]:
    return _ref("headers", name)


def _response(name: str) -> dict[str, str]:
    return _ref("responses", name)


# --- response builders -------------------------------------------------------------


def _json(
    description: str,
    schema: dict[str, Any],
    *,
    no_store: bool = True,
    headers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON answer; `no_store` adds the Cache-Control and Pragma every OAuth answer has."""
    all_headers: dict[str, Any] = {"X-Request-Id": _header("RequestId")}
    if no_store:
        all_headers["Cache-Control"] = _header("CacheControlNoStore")
        all_headers["Pragma"] = _header("PragmaNoCache")
    all_headers.update(headers or {})
    return {
        "description": description,
        "headers": all_headers,
        "content": {JSON: {"schema": schema}},
    }


def _oauth_error(description: str, **headers: Any) -> dict[str, Any]:
    return _json(description, _schema("OAuthError"), headers=headers)


def _page(description: str, *, sets_cookie: bool = False) -> dict[str, Any]:
    """An HTML page: never cached, never framed, no Referer."""
    headers: dict[str, Any] = {
        "X-Request-Id": _header("RequestId"),
        "Cache-Control": _header("CacheControlNoStore"),
        "X-Frame-Options": _header("XFrameOptions"),
        "Content-Security-Policy": _header("ContentSecurityPolicy"),
        "X-Content-Type-Options": _header("XContentTypeOptions"),
        "Referrer-Policy": _header("ReferrerPolicy"),
    }
    if sets_cookie:
        headers["Set-Cookie"] = _header("SetCookie")
    return {
        "description": description,
        "headers": headers,
        "content": {HTML: {"schema": _schema("HtmlPage")}},
    }


def _redirect(description: str, *, sets_cookie: bool = False) -> dict[str, Any]:
    """A redirect without a body: Location, no-store and no Referer."""
    headers: dict[str, Any] = {
        "X-Request-Id": _header("RequestId"),
        "Location": _header("Location"),
        "Cache-Control": _header("CacheControlNoStore"),
        "Referrer-Policy": _header("ReferrerPolicy"),
    }
    if sets_cookie:
        headers["Set-Cookie"] = _header("SetCookie")
    return {"description": description, "headers": headers}


def _failures(*, body: bool) -> dict[str, Any]:
    """What any operation may answer when the server, not the request, fails; with a
    request body also 413, since the body is read (and bounded) before any handler."""
    responses: dict[str, Any] = {}
    if body:
        responses["413"] = _response("PayloadTooLarge")
    responses["500"] = _response("ServerError")
    responses["503"] = _response("TemporarilyUnavailable")
    return responses


def _form_body(schema: str, description: str, *, required: bool = True) -> dict[str, Any]:
    return {
        "description": description,
        "required": required,
        "content": {FORM: {"schema": _schema(schema)}},
    }


CLIENT_AUTH: list[dict[str, list[str]]] = [{"clientBasic": []}, {}]
NO_AUTH: list[dict[str, list[str]]] = []
# Pages that answer a browser without a session by sending it to sign in: the session is
# needed to act, but a request without one is answered (303), not refused.
SESSION_OR_REDIRECT: list[dict[str, list[str]]] = [{"sessionCookie": []}, {}]
CSRF_COOKIE = {
    "name": "kt_csrf",
    "in": "cookie",
    "required": False,
    "description": (
        "The double-submit CSRF cookie set by the form's page; the form's `csrf` field "
        "must equal it."
    ),
    "schema": {"type": "string"},
}


# --- paths -------------------------------------------------------------------------


def _oauth_paths() -> dict[str, Any]:
    client_401 = _oauth_error(
        "`invalid_client`: no client authentication, an unknown client, a wrong or missing "
        "secret, a public client presenting a secret, a malformed Basic header or a "
        "disabled client. `WWW-Authenticate: Basic` is sent when Basic was tried or no "
        "credentials were presented.",
        **{"WWW-Authenticate": _header("WWWAuthenticateBasic")},
    )
    return {
        "/oauth/token": {
            "post": {
                "operationId": "token",
                "tags": ["oauth"],
                "summary": "Issue tokens",
                "description": (
                    "The token endpoint (RFC 6749 §3.2) for four grant types: "
                    "`authorization_code` (with PKCE), `refresh_token` (rotation, reuse "
                    "detection and a retry grace window), `client_credentials` and "
                    "`registration_code`. The steps run in order: the form is parsed, the "
                    "client authenticated, `grant_type` checked (present, known, allowed "
                    "for the client), the client's own rate limit counted, and the grant "
                    "run. Parameters a grant does not read are ignored."
                ),
                "security": CLIENT_AUTH,
                "requestBody": _form_body(
                    "TokenRequest",
                    "The grant's parameters and, without Basic authentication, the "
                    "client's credentials.",
                ),
                "responses": {
                    "200": _json("The issued tokens.", _schema("TokenResponse")),
                    "400": _oauth_error(
                        "The request was refused: `invalid_request` (not a form, a repeated "
                        "or missing parameter, a NUL, too many fields, two client "
                        "authentication methods), `unsupported_grant_type`, "
                        "`unauthorized_client` (the client may not use this grant, or is "
                        "disabled or public where that is not allowed), `invalid_scope`, or "
                        "`invalid_grant` with a machine-readable `reason`."
                    ),
                    "401": client_401,
                    "429": _response("SlowDown"),
                    **_failures(body=True),
                },
            }
        },
        "/oauth/revoke": {
            "post": {
                "operationId": "revokeToken",
                "tags": ["oauth"],
                "summary": "Revoke a token",
                "description": (
                    "Token revocation (RFC 7009). A refresh token of the calling client "
                    "revokes its whole grant; an access token of the calling client retires "
                    "that access token only. Anything else (another client's token, an "
                    "unknown, malformed or already revoked one) changes nothing, and the "
                    "answer is the same either way."
                ),
                "security": CLIENT_AUTH,
                "requestBody": _form_body(
                    "RevocationRequest",
                    "The token and, without Basic authentication, the client's credentials.",
                ),
                "responses": {
                    "200": {
                        "description": "Done (or nothing to do); the body is empty.",
                        "headers": {
                            "X-Request-Id": _header("RequestId"),
                            "Cache-Control": _header("CacheControlNoStore"),
                            "Pragma": _header("PragmaNoCache"),
                        },
                    },
                    "400": _oauth_error(
                        "`invalid_request`: not a form, a repeated or missing `token`, a NUL, "
                        "too many fields, or two client authentication methods."
                    ),
                    "401": client_401,
                    **_failures(body=True),
                },
            }
        },
        "/oauth/introspect": {
            "post": {
                "operationId": "introspectToken",
                "tags": ["oauth"],
                "summary": "Describe a token",
                "description": (
                    "Token introspection (RFC 7662), for confidential clients only. A token "
                    "that is not currently valid, for whatever reason, is just "
                    '`{"active": false}`.'
                ),
                "security": CLIENT_AUTH,
                "requestBody": _form_body(
                    "IntrospectionRequest",
                    "The token and, without Basic authentication, the client's credentials.",
                ),
                "responses": {
                    "200": _json(
                        "What the token is, if it is active.", _schema("IntrospectionResponse")
                    ),
                    "400": _oauth_error(
                        "`invalid_request`: not a form, a repeated or missing `token`, a NUL, "
                        "too many fields, or two client authentication methods."
                    ),
                    "401": _oauth_error(
                        "`invalid_client`: as at the token endpoint, and also for a public "
                        "client. `WWW-Authenticate: Basic` is sent when Basic was tried or "
                        "no credentials were presented.",
                        **{"WWW-Authenticate": _header("WWWAuthenticateBasic")},
                    ),
                    **_failures(body=True),
                },
            }
        },
        "/oauth/authorize": {
            "get": {
                "operationId": "authorize",
                "tags": ["oauth"],
                "summary": "Start the authorization code flow",
                "description": (
                    "The authorization endpoint (RFC 6749 §4.1.1, OpenID Connect Core "
                    "§3.1.2), opened by the person's browser. Without a fresh enough "
                    "sign-in it redirects to `/login`; without a consent covering the scope "
                    "it shows the consent page; otherwise it redirects to the client with a "
                    "code. Errors about a known client and its registered redirect URI go "
                    "back to the client by redirect (with `error`, `error_description`, "
                    "`state` and `iss`); an unknown or disabled client, a redirect URI that "
                    "is not registered, or an unreadable query string is shown as an error "
                    "page and never redirected."
                ),
                "security": SESSION_OR_REDIRECT,
                "parameters": _authorize_parameters(),
                "responses": {
                    "200": _page("The consent page: the person chooses Allow or Deny."),
                    "302": _redirect(
                        "To the client's redirect URI with `code`, `state` and `iss`, or with "
                        "`error` (`unsupported_response_type`, `unauthorized_client`, "
                        "`invalid_scope`, `invalid_request`, `login_required`, "
                        "`consent_required`); or to `/login`, which comes back here."
                    ),
                    "400": _page(
                        "The request cannot be completed and is not redirected anywhere: an "
                        "unknown or disabled client, a missing or unregistered redirect URI, "
                        "or a query string that is not UTF-8, holds a NUL or an overlong "
                        "value, or repeats a parameter."
                    ),
                    **_failures(body=False),
                },
            },
            "post": {
                "operationId": "authorizeDecision",
                "tags": ["oauth"],
                "summary": "Answer the consent page",
                "description": (
                    "The consent form posts the person's decision here. It needs the "
                    "session the page was shown to and the CSRF token bound to it."
                ),
                "security": [{"sessionCookie": []}],
                "requestBody": _form_body("ConsentForm", "The consent form's fields."),
                "responses": {
                    "303": _redirect(
                        "To the client's redirect URI with a `code` (Allow) or with "
                        "`error=access_denied` (Deny), or with another error the "
                        "authorization request now has; `state` and `iss` come along."
                    ),
                    "400": _page(
                        "No session, a CSRF token that does not match it, or an authorization "
                        "request that was altered or no longer names a usable client and "
                        "redirect URI."
                    ),
                    **_failures(body=True),
                },
            },
        },
        "/.well-known/oauth-authorization-server": {
            "get": {
                "operationId": "oauthServerMetadata",
                "tags": ["oauth"],
                "summary": "Authorization server metadata",
                "description": (
                    "Server metadata (RFC 8414), built from the routes and the sets of "
                    "values the server itself checks against; every endpoint is a full URL "
                    "under the issuer. The same document as "
                    "`/.well-known/openid-configuration`."
                ),
                "security": NO_AUTH,
                "responses": {
                    "200": _json("The metadata.", _schema("ServerMetadata"), no_store=False),
                    **_failures(body=False),
                },
            }
        },
    }


def _authorize_parameters() -> list[dict[str, Any]]:
    def query(name: str, description: str, schema: dict[str, Any], required: bool = False) -> Any:
        return {
            "name": name,
            "in": "query",
            "required": required,
            "description": description,
            "schema": schema,
        }

    text = {"type": "string"}
    return [
        query("response_type", "`code`, the only response type.", {"type": "string"}, True),
        query(
            "client_id",
            "The client asking for authorization.",
            {"type": "string", "minLength": 1},
            True,
        ),
        query(
            "redirect_uri",
            "One of the client's registered redirect URIs, compared as a string; may be left "
            "out when exactly one is registered.",
            text,
        ),
        query(
            "scope",
            "Space-separated scopes within the client's registered scope; empty or absent "
            "means all of it.",
            text,
        ),
        query("state", "Returned unchanged with the answer.", text),
        query(
            "code_challenge",
            "PKCE (RFC 7636): the S256 challenge, 43 base64url characters. Required of public "
            "clients.",
            text,
        ),
        query(
            "code_challenge_method",
            "`S256`, the only method; a challenge without a method is refused.",
            text,
        ),
        query("nonce", "Copied into the ID token of the code exchange.", text),
        query(
            "prompt",
            "Space-separated: `none` (alone), `login`, `consent`, `select_account`.",
            text,
        ),
        query(
            "max_age",
            "Seconds, as ASCII digits: an older sign-in must be repeated.",
            text,
        ),
    ]


def _oidc_paths() -> dict[str, Any]:
    bearer_401 = _oauth_error(
        "`invalid_token`: no bearer token, or one that is invalid, expired, superseded or revoked.",
        **{"WWW-Authenticate": _header("WWWAuthenticateBearer")},
    )
    bearer_403 = _oauth_error(
        "`insufficient_scope`: the token was not issued to a user with the `openid` scope "
        "(a `client_credentials` token never is).",
        **{"WWW-Authenticate": _header("WWWAuthenticateBearer")},
    )

    def userinfo(operation_id: str, method: str) -> dict[str, Any]:
        return {
            "operationId": operation_id,
            "tags": ["oidc"],
            "summary": f"UserInfo ({method})",
            "description": (
                "OpenID Connect UserInfo (Core §5.3). The access token, opaque or JWT, goes "
                "in the `Authorization: Bearer` header only; a body, if any, is ignored. The "
                "answer has `sub`, and `email` with `email_verified` when the token has the "
                "`email` scope."
            ),
            "security": [{"bearerToken": []}],
            "responses": {
                "200": _json("The user's claims.", _schema("UserInfo")),
                "401": bearer_401,
                "403": bearer_403,
                **_failures(body=method == "POST"),
            },
        }

    return {
        "/oauth/userinfo": {
            "get": userinfo("userinfo", "GET"),
            "post": userinfo("userinfoPost", "POST"),
        },
        "/oauth/jwks": {
            "get": {
                "operationId": "jwks",
                "tags": ["oidc"],
                "summary": "Public signing keys",
                "description": (
                    "Every live signing key as a public JWK (RFC 7517), for ID tokens and "
                    "JWT access tokens. Cached briefly, so a rotated key reaches relying "
                    "parties before tokens signed with it."
                ),
                "security": NO_AUTH,
                "responses": {
                    "200": _json(
                        "The key set.",
                        _schema("JWKS"),
                        no_store=False,
                        headers={"Cache-Control": _header("CacheControlPublic")},
                    ),
                    **_failures(body=False),
                },
            }
        },
        "/.well-known/openid-configuration": {
            "get": {
                "operationId": "openidConfiguration",
                "tags": ["oidc"],
                "summary": "OpenID Connect discovery",
                "description": (
                    "OpenID Connect Discovery 1.0: the same document as "
                    "`/.well-known/oauth-authorization-server`."
                ),
                "security": NO_AUTH,
                "responses": {
                    "200": _json("The metadata.", _schema("ServerMetadata"), no_store=False),
                    **_failures(body=False),
                },
            }
        },
    }


def _signup_paths() -> dict[str, Any]:
    return {
        "/v1/user/signup/registration_code": {
            "post": {
                "operationId": "signupRegistrationCode",
                "tags": ["signup"],
                "summary": "Create a user as a partner",
                "description": (
                    "A partner client creates a user who then gets tokens with the "
                    "`registration_code` grant, until the person claims the account. The "
                    "partner authenticates with an access token from its own "
                    "`client_credentials` grant; its client must be registered for the "
                    "`registration_code` grant type. The bearer token is checked before the "
                    "body is read."
                ),
                "security": [{"bearerToken": []}],
                "requestBody": {
                    "description": "The new user.",
                    "required": True,
                    "content": {JSON: {"schema": _schema("SignupRequest")}},
                },
                "responses": {
                    "200": _json("The user was created.", _schema("SignupResponse")),
                    "400": _oauth_error(
                        "`invalid_request`: the body is not `application/json`, not valid "
                        "JSON, not an object, or lacks a valid `email` or `registrationCode`."
                    ),
                    "401": _oauth_error(
                        "`invalid_token`: no bearer token, or one that is invalid, expired or "
                        "revoked.",
                        **{"WWW-Authenticate": _header("WWWAuthenticateBearer")},
                    ),
                    "403": _oauth_error(
                        "`access_denied`: the token is not a `client_credentials` token, or "
                        "its client is disabled or not registered for `registration_code`."
                    ),
                    "409": _oauth_error(
                        '`conflict`: a user with this email already exists (`"error": "conflict"`).'
                    ),
                    **_failures(body=True),
                },
            }
        }
    }


def _login_paths() -> dict[str, Any]:
    return {
        "/login": {
            "get": {
                "operationId": "loginPage",
                "tags": ["pages"],
                "summary": "The sign-in page",
                "description": "The sign-in form, with a double-submit CSRF cookie.",
                "security": NO_AUTH,
                "parameters": [
                    {
                        "name": "return_to",
                        "in": "query",
                        "required": False,
                        "description": (
                            "Where to go after signing in: a path on this site. Anything "
                            "else (another site, a path a browser would read as one) is "
                            "replaced by `/account`."
                        ),
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _page("The sign-in form.", sets_cookie=True),
                    **_failures(body=False),
                },
            },
            "post": {
                "operationId": "login",
                "tags": ["pages"],
                "summary": "Sign in",
                "description": (
                    "Checks the CSRF token, the back-off and the credentials; on success "
                    "the browser gets a session cookie. Failures per account and per client "
                    "address are counted in fixed windows, and past the limit every attempt "
                    "waits for the window to end."
                ),
                "security": NO_AUTH,
                "parameters": [CSRF_COOKIE],
                "requestBody": _form_body("LoginForm", "The sign-in form's fields."),
                "responses": {
                    "303": _redirect(
                        "Signed in: the session cookie is set and the browser goes to "
                        "`return_to`. For a person with two-step verification there is no "
                        "session yet: a signed half-way cookie (`kt_two_step`, ten minutes) is "
                        "set and the browser goes to `/login/two-step`.",
                        sets_cookie=True,
                    ),
                    "400": _page(
                        "The form expired: its CSRF token does not match the cookie (the "
                        "form is shown again).",
                        sets_cookie=True,
                    ),
                    "401": _page(
                        "Incorrect email or password (the form is shown again).",
                        sets_cookie=True,
                    ),
                    "429": _page(
                        "Too many failed attempts for this account or from this address; "
                        "the page says how many minutes to wait.",
                        sets_cookie=True,
                    ),
                    **_failures(body=True),
                },
            },
        },
        "/logout": {
            "post": {
                "operationId": "logout",
                "tags": ["pages"],
                "summary": "Sign out",
                "description": (
                    "Ends the session when the form's CSRF token belongs to it; without a "
                    "session or with another token nothing ends. Either way the browser "
                    "goes to the sign-in page."
                ),
                "security": SESSION_OR_REDIRECT,
                "requestBody": _form_body(
                    "SessionForm", "The sign-out form's fields.", required=False
                ),
                "responses": {
                    "303": _redirect(
                        "To `/login`; the session cookie is cleared if the session ended.",
                        sets_cookie=True,
                    ),
                    **_failures(body=True),
                },
            }
        },
    }


def _account_form(
    operation_id: str,
    summary: str,
    description: str,
    form: str,
    responses: dict[str, Any],
) -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation_id,
            "tags": ["pages"],
            "summary": summary,
            "description": description,
            "security": SESSION_OR_REDIRECT,
            "requestBody": _form_body(form, "The account form's fields.", required=False),
            "responses": {
                **responses,
                "400": responses.get("400")
                or _page("The form expired: its CSRF token does not belong to the session."),
                **_failures(body=True),
            },
        }
    }


def _account_paths() -> dict[str, Any]:
    signed_out = "Signed out: to `/login?return_to=/account`."
    return {
        "/account": {
            "get": {
                "operationId": "accountPage",
                "tags": ["pages"],
                "summary": "The account page",
                "description": (
                    "The signed-in person's connected applications (name, scopes, first and "
                    "last use), two-step verification, enhanced security and password forms, "
                    "and recent security events."
                ),
                "security": SESSION_OR_REDIRECT,
                "parameters": [
                    {
                        "name": "done",
                        "in": "query",
                        "required": False,
                        "description": (
                            "Which notice to show after an action (`revoked`, "
                            "`enhanced-on`, `enhanced-off`, `password`, `claimed`, "
                            "`two-step-off`); any "
                            "other value shows none."
                        ),
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _page("The account page."),
                    "303": _redirect(signed_out),
                    **_failures(body=False),
                },
            }
        },
        "/account/revoke": _account_form(
            "accountRevoke",
            "Revoke a connected application",
            "Revokes one of the person's grants and forgets the consent behind it, so the "
            "application must ask again.",
            "RevokeGrantForm",
            {
                "303": _redirect(f"Revoked: to `/account?done=revoked`. {signed_out}"),
                "404": _page("The account page with an error: no such grant of this person."),
            },
        ),
        "/account/enhanced-security": _account_form(
            "accountEnhancedSecurity",
            "Turn enhanced security on or off",
            "Turning it on revokes every grant of the person: every application must ask again.",
            "EnhancedSecurityForm",
            {
                "303": _redirect(
                    "Done: to `/account?done=enhanced-on` or `/account?done=enhanced-off`. "
                    + signed_out
                ),
            },
        ),
        "/account/password": _account_form(
            "accountPassword",
            "Change the password",
            "Needs the current password (wrong guesses back off as sign-in does); ends "
            "every other session of the person and keeps this one.",
            "PasswordForm",
            {
                "303": _redirect(f"Changed: to `/account?done=password`. {signed_out}"),
                "400": _page(
                    "The account page with an error: the current password is wrong or the "
                    "new one too short; or, as an error page, the form expired."
                ),
                "429": _page(
                    "The account page with an error: too many wrong current passwords; it "
                    "says how many minutes to wait."
                ),
            },
        ),
        "/account/claim": {
            "get": {
                "operationId": "claimPage",
                "tags": ["pages"],
                "summary": "The claim page",
                "description": (
                    "The form with which a person takes over an account a partner created, "
                    "with the registration code the partner gave them."
                ),
                "security": NO_AUTH,
                "responses": {
                    "200": _page("The claim form.", sets_cookie=True),
                    **_failures(body=False),
                },
            },
            "post": {
                "operationId": "claimAccount",
                "tags": ["pages"],
                "summary": "Claim an account",
                "description": (
                    "Sets the password, kills the registration code (the partner's "
                    "`registration_code` grant stops working) and signs the person in. "
                    "Failures back off as sign-in does."
                ),
                "security": NO_AUTH,
                "parameters": [CSRF_COOKIE],
                "requestBody": _form_body("ClaimForm", "The claim form's fields."),
                "responses": {
                    "303": _redirect(
                        "Claimed and signed in: to `/account?done=claimed`.", sets_cookie=True
                    ),
                    "400": _page(
                        "The form expired, or the new password is too short.", sets_cookie=True
                    ),
                    "401": _page(
                        "The email and registration code do not match (also for an account "
                        "already claimed).",
                        sets_cookie=True,
                    ),
                    "409": _page(
                        "The account was claimed meanwhile by another request.", sets_cookie=True
                    ),
                    "429": _page("Too many failed attempts; try again later.", sets_cookie=True),
                    **_failures(body=True),
                },
            },
        },
        "/static/keyturn.css": {
            "get": {
                "operationId": "stylesheet",
                "tags": ["pages"],
                "summary": "The pages' stylesheet",
                "security": NO_AUTH,
                "responses": {
                    "200": {
                        "description": "The stylesheet.",
                        "headers": {
                            "X-Request-Id": _header("RequestId"),
                            "Cache-Control": _header("CacheControlPublic"),
                        },
                        "content": {"text/css": {"schema": {"type": "string"}}},
                    },
                    **_failures(body=False),
                },
            }
        },
    }


def _operations_paths() -> dict[str, Any]:
    return {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "tags": ["operations"],
                "summary": "Liveness",
                "description": (
                    "The process serves. It does not touch the database, so a database "
                    "outage never makes an orchestrator restart every instance."
                ),
                "security": NO_AUTH,
                "responses": {
                    "200": _json("Alive.", _schema("Health"), no_store=False),
                    **_failures(body=False),
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "tags": ["operations"],
                "summary": "Readiness",
                "description": (
                    "The database answers within 2 seconds: a load balancer should send "
                    "requests elsewhere while it does not."
                ),
                "security": NO_AUTH,
                "responses": {
                    "200": _json("Ready.", _schema("Readiness")),
                    "500": _response("ServerError"),
                    "503": {
                        "description": (
                            "Not ready: the database did not answer in time or is "
                            'unavailable (`{"status": "unavailable", "reason": ...}`); or the '
                            "server is shutting down (an OAuth error with `Retry-After`)."
                        ),
                        "headers": {
                            "X-Request-Id": _header("RequestId"),
                            "Cache-Control": _header("CacheControlNoStore"),
                            "Pragma": _header("PragmaNoCache"),
                            "Retry-After": {**_retry_after(), "required": False},
                        },
                        "content": {
                            JSON: {
                                "schema": {"anyOf": [_schema("Readiness"), _schema("OAuthError")]}
                            }
                        },
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["operations"],
                "summary": "Prometheus metrics",
                "description": (
                    "The Prometheus text exposition format, summed over every worker "
                    "process. The Content-Type is prometheus_client's `CONTENT_TYPE_LATEST`: "
                    "`text/plain; version=1.0.0; charset=utf-8` with current releases "
                    "(`version=0.0.4` with older ones). With a management port configured "
                    "this path is served only there and answers 404 on the main port."
                ),
                "security": NO_AUTH,
                "responses": {
                    "200": {
                        "description": "The metrics.",
                        "headers": {"X-Request-Id": _header("RequestId")},
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "404": _response("NotFound"),
                    **_failures(body=False),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapiDocument",
                "tags": ["operations"],
                "summary": "This description",
                "description": "The OpenAPI 3.1 description of keyturn's HTTP interface.",
                "security": NO_AUTH,
                "responses": {
                    "200": {
                        "description": "The OpenAPI document.",
                        "headers": {"X-Request-Id": _header("RequestId")},
                        "content": {JSON: {"schema": _schema("OpenAPIDocument")}},
                    },
                    **_failures(body=False),
                },
            }
        },
    }


RETURN_TO = {
    "name": "return_to",
    "in": "query",
    "required": False,
    "description": (
        "Where to go afterwards: a path on this site (anything else is replaced by `/account`)."
    ),
    "schema": {"type": "string"},
}


def _two_step_paths() -> dict[str, Any]:
    signed_out = "Signed out: to `/login?return_to=/account`."
    return {
        "/login/two-step": {
            "get": {
                "operationId": "twoStepPage",
                "tags": ["pages"],
                "summary": "The second step of signing in",
                "description": (
                    'The "Authentication code" form, for a browser whose password was right '
                    "a moment ago (the `kt_two_step` cookie) or whose session must step up "
                    "for an application that needs two-step verification."
                ),
                "security": NO_AUTH,
                "parameters": [RETURN_TO],
                "responses": {
                    "200": _page("The code form.", sets_cookie=True),
                    "303": _redirect("Nobody is half-way: to `/login`."),
                    **_failures(body=False),
                },
            },
            "post": {
                "operationId": "twoStep",
                "tags": ["pages"],
                "summary": "Give the two-step code",
                "description": (
                    "A code from the authenticator app (each accepted once: a code no later "
                    "than the last one accepted is refused) or one of the recovery codes "
                    "(each once). Wrong codes back off as passwords do and are recorded."
                ),
                "security": NO_AUTH,
                "parameters": [CSRF_COOKIE],
                "requestBody": _form_body("TwoStepForm", "The code form's fields."),
                "responses": {
                    "303": _redirect(
                        "Right: signed in at level 2 (or the session stepped up) and on to "
                        "`return_to`; or nobody is half-way: to `/login`.",
                        sets_cookie=True,
                    ),
                    "400": _page("The form expired (the form is shown again).", sets_cookie=True),
                    "401": _page("The code is wrong or was used already.", sets_cookie=True),
                    "429": _page(
                        "Too many wrong codes for this account or from this address.",
                        sets_cookie=True,
                    ),
                    **_failures(body=True),
                },
            },
        },
        "/account/two-step": {
            "get": {
                "operationId": "twoStepIntroPage",
                "tags": ["pages"],
                "summary": "Asked to set up two-step verification",
                "description": (
                    "Where an application that needs two-step verification sends a person "
                    "who has none, with the button that starts setting it up."
                ),
                "security": SESSION_OR_REDIRECT,
                "parameters": [RETURN_TO],
                "responses": {
                    "200": _page("The page with the set-up button."),
                    "303": _redirect(
                        "Signed out: to `/login`; two-step verification already on: to `return_to`."
                    ),
                    **_failures(body=False),
                },
            }
        },
        "/account/two-step/setup": _account_form(
            "twoStepSetup",
            "Start setting up an authenticator app",
            "A new TOTP secret (RFC 6238: SHA-1, 30 s, 6 digits), shown as a QR code and as "
            "its `otpauth://totp/` URI; it counts once a first code confirms it. Needs a "
            "password sign-in in the last 10 minutes (else a redirect to sign in again).",
            "TwoStepSetupForm",
            {
                "200": _page("The set-up page: QR code, URI, and the code form."),
                "303": _redirect(
                    f"Already on: to `/account`; signed in too long ago: to `/login`. {signed_out}"
                ),
            },
        ),
        "/account/two-step/verify": _account_form(
            "twoStepVerify",
            "Confirm the authenticator app",
            "The app's first code turns two-step verification on: ten single-use recovery "
            "codes are shown once, this session counts as level 2 and every other session "
            "of the person ends.",
            "TwoStepVerifyForm",
            {
                "200": _page("On: the recovery codes, and a link on to `return_to`."),
                "303": _redirect(
                    f"Already on, or nothing being set up: to `/account`. {signed_out}"
                ),
                "400": _page(
                    "The set-up page again with an error: the code is not right; or, as an "
                    "error page, the form expired."
                ),
                "429": _page("The set-up page with an error: too many wrong codes."),
            },
        ),
        "/account/two-step/off": _account_form(
            "twoStepOff",
            "Turn two-step verification off",
            "Needs a code from the app or a recovery code; ends every other session of the person.",
            "TwoStepOffForm",
            {
                "303": _redirect(f"Off: to `/account?done=two-step-off`. {signed_out}"),
                "400": _page(
                    "The account page with an error: the code is not right; or, as an error "
                    "page, the form expired."
                ),
                "429": _page("The account page with an error: too many wrong codes."),
            },
        ),
    }


def public_paths() -> dict[str, Any]:
    """The OpenAPI `paths` object for every route but the admin API (a fresh copy)."""
    paths = {
        **_oauth_paths(),
        **_oidc_paths(),
        **_signup_paths(),
        **_login_paths(),
        **_account_paths(),
        **_two_step_paths(),
        **_operations_paths(),
    }
    # Shared pieces (security lists, parameters) must not be shared with the caller.
    return copy.deepcopy(paths)


def public_tags() -> list[dict[str, str]]:
    """The top-level `tags` list naming the tags the public operations use."""
    return [{"name": name, "description": text} for name, text in TAG_DESCRIPTIONS.items()]


# --- components --------------------------------------------------------------------


def _retry_after() -> dict[str, Any]:
    return {
        "description": "Seconds to wait before retrying (at least 1).",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }


def _headers() -> dict[str, Any]:
    def fixed(description: str, value: str) -> dict[str, Any]:
        return {"description": description, "required": True, "schema": {"const": value}}

    return {
        "RequestId": {
            "description": (
                "On every response: the request's own `X-Request-Id` when it is 1 to 128 "
                "characters of `A-Z a-z 0-9 . _ -`, otherwise a generated one. The same id "
                "is in the request's log lines."
            ),
            "required": True,
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"},
        },
        "RetryAfter": _retry_after(),
        "WWWAuthenticateBasic": {
            "description": (
                'The Basic challenge `Basic realm="keyturn"`: sent when the client tried '
                "Basic authentication or presented no credentials at all."
            ),
            "required": False,
            "schema": {"type": "string", "examples": ['Basic realm="keyturn"']},
        },
        "WWWAuthenticateBearer": {
            "description": (
                "The bearer challenge (RFC 6750 §3) naming the error, e.g. "
                '`Bearer realm="keyturn", error="invalid_token"`.'
            ),
            "required": True,
            "schema": {
                "type": "string",
                "pattern": "^Bearer ",
                "examples": ['Bearer realm="keyturn", error="invalid_token"'],
            },
        },
        "CacheControlNoStore": fixed("The answer must not be stored.", "no-store"),
        "CacheControlPublic": {
            "description": (
                "Cacheable by anyone for a while: 60 seconds for the key set, an hour for "
                "the stylesheet."
            ),
            "required": True,
            "schema": {"type": "string", "pattern": "^public, max-age=[0-9]+$"},
        },
        "PragmaNoCache": fixed("For HTTP/1.0 caches, with `Cache-Control: no-store`.", "no-cache"),
        "Location": {
            "description": "Where the browser goes next.",
            "required": True,
            "schema": {"type": "string"},
        },
        "SetCookie": {
            "description": (
                "`kt_session` (the session, 14 days) or `kt_csrf` (the double-submit CSRF "
                "token of forms shown before sign-in); `HttpOnly`, `SameSite=Lax`, `Path=/`, "
                "and `Secure` when the issuer is https."
            ),
            "required": False,
            "schema": {"type": "string"},
        },
        "Allow": {
            "description": "The methods the path accepts, comma-separated.",
            "required": True,
            "schema": {"type": "string", "examples": ["GET, POST"]},
        },
        "XFrameOptions": fixed("Pages may not be framed.", "DENY"),
        "ContentSecurityPolicy": {
            "description": (
                "Nothing but the site's own stylesheet and images; no framing "
                "(`frame-ancestors 'none'`)."
            ),
            "required": True,
            "schema": {"type": "string", "pattern": "frame-ancestors 'none'"},
        },
        "XContentTypeOptions": fixed("No content sniffing.", "nosniff"),
        "ReferrerPolicy": fixed("No Referer leaves the page.", "no-referrer"),
    }


def _responses() -> dict[str, Any]:
    return {
        "PayloadTooLarge": _oauth_error(
            f"`invalid_request`: the request body is over {MAX_BODY // 1024} KiB (the answer "
            "is JSON on every path)."
        ),
        "SlowDown": _oauth_error(
            "`slow_down`: over a rate limit (the client's own, or refreshes of one grant "
            "from one address); retry after `Retry-After` seconds.",
            **{"Retry-After": _header("RetryAfter")},
        ),
        "ServerError": _oauth_error(
            "`server_error`: an unexpected internal failure (logged, never detailed here). "
            "The answer is JSON on every path, pages included."
        ),
        "TemporarilyUnavailable": _oauth_error(
            "`temporarily_unavailable`: the database could not be reached or could not "
            "serve, or the server is shutting down and the request was still unanswered. "
            "Retry; tokens already held stay good. The answer is JSON on every path.",
            **{"Retry-After": _header("RetryAfter")},
        ),
        "MethodNotAllowed": _oauth_error(
            "`invalid_request` (Method not allowed): the path does not take this method "
            "(any known path).",
            **{"Allow": _header("Allow")},
        ),
        "NotFound": _json(
            'No such path: `{"error": "not_found"}` (any unknown path).',
            _schema("NotFound"),
            no_store=False,
        ),
    }


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


# Form values at the OAuth endpoints: text without NUL (a NUL anywhere is refused).
NO_NUL = "^[^\\u0000]*$"


def _text(description: str, **extra: Any) -> dict[str, Any]:
    """A parameter of an OAuth endpoint's form: any text but NUL, unless `extra` says more."""
    return {"type": "string", "description": description, "pattern": NO_NUL, **extra}


def _client_credentials_fields() -> dict[str, Any]:
    return {
        "client_id": _text(
            "The client, for `client_secret_post` or (public clients) `none`. With Basic it "
            "may be sent too and must then equal the Basic client id. Longer than 255 "
            "characters is `invalid_client`.",
            maxLength=255,
        ),
        "client_secret": _text(
            "`client_secret_post`: the client's secret. Never together with Basic."
        ),
    }


def _oauth_form(description: str, properties: dict[str, Any], required: list[str]) -> Any:
    """A form of the token, revocation or introspection endpoint: every value one string
    (a repeated parameter is refused), no NUL, at most MAX_FORM_FIELDS fields. Parameters
    the endpoint does not read are ignored."""
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": {"type": "string", "pattern": NO_NUL},
        "propertyNames": {"pattern": NO_NUL},
        "maxProperties": MAX_FORM_FIELDS,
    }


def _page_form(description: str, properties: dict[str, Any], required: list[str]) -> Any:
    """A page's form. Pages never refuse a form for its shape: a repeated field's last
    value wins, unknown fields are ignored, and an unreadable body (not UTF-8, a NUL, a
    value over 16 KiB) reads as an empty form, which then fails the CSRF check."""
    schema: dict[str, Any] = {
        "type": "object",
        "description": description,
        "properties": properties,
    }
    if required:
        schema["required"] = required
    return schema


def _form_schemas() -> dict[str, Any]:
    session_csrf = _string(
        "The CSRF token bound to the session, as the account page carries it; without it (or "
        "with another) a signed-in request is answered with a 400 page."
    )
    signed_out_csrf = _string(
        "The CSRF token the form's page carried; it must equal the `kt_csrf` cookie."
    )
    return {
        "TokenRequest": {
            **_oauth_form(
                "Token request parameters (application/x-www-form-urlencoded, at most "
                f"{MAX_FORM_FIELDS} fields, none repeated, no NUL). Which parameters apply "
                "depends on `grant_type`; the others are ignored.",
                {
                    "grant_type": {
                        "type": "string",
                        "enum": grant_types_supported(),
                        "description": "The grant type; the client must be registered for it.",
                    },
                    **_client_credentials_fields(),
                    "code": _text(
                        "`authorization_code` (required): the code from the authorization "
                        "response; single use, valid for 60 seconds.",
                        minLength=1,
                    ),
                    "redirect_uri": _text(
                        "`authorization_code` (required): exactly the redirect URI of the "
                        "authorization request.",
                        minLength=1,
                    ),
                    "code_verifier": _string(
                        "`authorization_code`: the PKCE verifier (43 to 128 unreserved "
                        "characters), required when the code was issued with a challenge and "
                        "refused when it was not.",
                        pattern="^[A-Za-z0-9._~-]{43,128}$",
                    ),
                    "refresh_token": _text(
                        "`refresh_token` (required): the refresh token (`ktr_...`).",
                        minLength=1,
                    ),
                    "scope": _text(
                        "`refresh_token`: narrows the new access token's scope within the "
                        "grant's. `client_credentials` and `registration_code`: the scope "
                        "wanted, within the client's registered scope (default: all of it). "
                        "Space-separated RFC 6749 scope tokens; an empty scope is refused."
                    ),
                    "email": _text(
                        "`registration_code` (required): the email of a user this client "
                        "created by partner sign-up (trimmed and lower-cased).",
                        minLength=1,
                    ),
                    "registration_code": _text(
                        "`registration_code` (required): the code the client chose at sign-up.",
                        minLength=1,
                    ),
                },
                ["grant_type"],
            ),
            "allOf": [
                {
                    "if": _grant_is("authorization_code"),
                    "then": {"required": ["code", "redirect_uri"]},
                },
                {"if": _grant_is("refresh_token"), "then": {"required": ["refresh_token"]}},
                {
                    "if": _grant_is("registration_code"),
                    "then": {"required": ["email", "registration_code"]},
                },
            ],
        },
        "RevocationRequest": _oauth_form(
            "Revocation request parameters (RFC 7009).",
            {
                "token": _text(
                    "The token to revoke: a refresh token or an access token.", minLength=1
                ),
                "token_type_hint": _text(
                    "Accepted and ignored: a token's prefix says what it is.",
                    examples=["refresh_token", "access_token"],
                ),
                **_client_credentials_fields(),
            },
            ["token"],
        ),
        "IntrospectionRequest": _oauth_form(
            "Introspection request parameters (RFC 7662).",
            {
                "token": _text("The token to describe: an access or a refresh token.", minLength=1),
                "token_type_hint": _text("Accepted and ignored."),
                **_client_credentials_fields(),
            },
            ["token"],
        ),
        "ConsentForm": _page_form(
            "The consent page's form.",
            {
                "csrf": _string("The CSRF token bound to the session."),
                "request": _string(
                    "The authorization request's query string, as the consent page carried it."
                ),
                "decision": _string(
                    "`allow` grants the request; anything else, or nothing, denies it.",
                    examples=["allow", "deny"],
                ),
            },
            ["csrf", "request"],
        ),
        "LoginForm": _page_form(
            "The sign-in form.",
            {
                "csrf": signed_out_csrf,
                "email": _string("The account's email (trimmed and lower-cased)."),
                "password": _string("The password."),
                "return_to": _string(
                    "A path on this site to go to afterwards; anything else means `/account`."
                ),
            },
            ["csrf", "email", "password"],
        ),
        "SessionForm": _page_form(
            "The sign-out form: only the session's CSRF token.",
            {"csrf": _string("The CSRF token bound to the session.")},
            [],
        ),
        # The account forms' fields are needed to act, but not required here: a browser
        # without a session is sent to sign in (303) whatever it posted.
        "RevokeGrantForm": _page_form(
            "The account page's revoke button.",
            {
                "csrf": session_csrf,
                "grant_id": _string("The grant to revoke, in hex, as the account page shows it."),
            },
            [],
        ),
        "EnhancedSecurityForm": _page_form(
            "The account page's enhanced security buttons.",
            {
                "csrf": session_csrf,
                "enabled": _string(
                    "`on` turns enhanced security on; anything else, or nothing, turns it off.",
                    examples=["on", "off"],
                ),
            },
            [],
        ),
        "PasswordForm": _page_form(
            "The account page's password form.",
            {
                "csrf": session_csrf,
                "current_password": _string("The current password."),
                "new_password": _string("The new password, at least 8 characters."),
            },
            [],
        ),
        "TwoStepForm": _page_form(
            "The second step's form.",
            {
                "csrf": signed_out_csrf,
                "return_to": _string("Where to go afterwards (a path on this site)."),
                "code": _string("The app's 6-digit code or a recovery code (xxxxx-xxxxx)."),
            },
            [],
        ),
        "TwoStepSetupForm": _page_form(
            "The form that starts setting up an authenticator app.",
            {
                "csrf": session_csrf,
                "return_to": _string("Where to go once it is on (a path on this site)."),
            },
            [],
        ),
        "TwoStepVerifyForm": _page_form(
            "The set-up page's form.",
            {
                "csrf": session_csrf,
                "return_to": _string("Where to go once it is on (a path on this site)."),
                "setup": _string(
                    "The secret being set up, sealed to this session (from the set-up page)."
                ),
                "code": _string("The app's first 6-digit code."),
            },
            [],
        ),
        "TwoStepOffForm": _page_form(
            "The account page's form that turns two-step verification off.",
            {
                "csrf": session_csrf,
                "code": _string("The app's 6-digit code or a recovery code."),
            },
            [],
        ),
        "ClaimForm": _page_form(
            "The claim form.",
            {
                "csrf": signed_out_csrf,
                "email": _string("The email the partner signed the person up with."),
                "registration_code": _string("The registration code the partner gave."),
                "new_password": _string("The password to set, at least 8 characters."),
            },
            ["csrf", "email", "registration_code", "new_password"],
        ),
    }


def _grant_is(grant_type: str) -> dict[str, Any]:
    return {"properties": {"grant_type": {"const": grant_type}}, "required": ["grant_type"]}


def _answer_schemas() -> dict[str, Any]:
    unix_seconds = {"type": "integer", "description": "Unix seconds."}
    return {
        "OAuthError": {
            "type": "object",
            "description": (
                "An error in the OAuth format (RFC 6749 §5.2), also used by UserInfo, "
                "sign-up and the server's own failures."
            ),
            "required": ["error", "error_description"],
            "properties": {
                "error": _string(
                    "The error code: `invalid_request`, `invalid_client`, `invalid_grant`, "
                    "`unauthorized_client`, `unsupported_grant_type`, `invalid_scope`, "
                    "`invalid_token`, `insufficient_scope`, `access_denied`, `conflict`, "
                    "`slow_down`, `server_error` or `temporarily_unavailable`.",
                    examples=["invalid_grant"],
                ),
                "error_description": _string(
                    "For people; only the characters RFC 6749 allows in it.",
                    pattern="^[\\x20-\\x21\\x23-\\x5B\\x5D-\\x7E]*$",
                ),
                "reason": _string(
                    "Only with `invalid_grant`, always there: why, for programs. `unknown`, "
                    "`expired`, `idle_timeout`, `reuse_detected` (a theft signal; the grant "
                    "is revoked), `revoked_by_user`, `revoked_by_client`, `revoked_by_admin`, "
                    "`enhanced_security`, `client_disabled` or `account_claimed`.",
                    examples=["reuse_detected"],
                ),
            },
        },
        "NotFound": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"const": "not_found"}},
        },
        "TokenResponse": {
            "type": "object",
            "description": "A successful token response (RFC 6749 §5.1).",
            "required": ["access_token", "token_type", "expires_in", "scope", "created_at"],
            "properties": {
                "access_token": _string(
                    "An opaque `kta_...` token, or an RFC 9068 JWT for clients configured so."
                ),
                "token_type": _string("Always `bearer`.", examples=["bearer"]),
                "expires_in": {
                    "type": "integer",
                    "minimum": 0,
                    "description": (
                        "Seconds until the access token expires (never past the grant's end)."
                    ),
                },
                "refresh_token": _string(
                    "`ktr_...`, for grants with a refresh token: a code exchange with "
                    "`offline_access` (or a client that always gets one), a refresh, and "
                    "`registration_code`. Never for `client_credentials`."
                ),
                "scope": _string("The access token's scope, space-separated."),
                "created_at": _string(
                    "When these tokens were issued: RFC 3339 in UTC with microseconds. A "
                    "retry within the grace window gets the same value.",
                    format="date-time",
                ),
                "id_token": _string(
                    "An OpenID Connect ID token (a signed JWT), for user grants whose scope "
                    "has `openid`."
                ),
            },
        },
        "IntrospectionResponse": {
            "type": "object",
            "description": (
                'An introspection answer (RFC 7662): `{"active": false}` for any token that '
                "is not currently valid, else the token's description."
            ),
            "required": ["active"],
            "properties": {
                "active": {"type": "boolean"},
                "scope": _string("The token's scope."),
                "client_id": _string("The client the token was issued to."),
                "token_type": _string(
                    "`Bearer` for access tokens, `refresh_token` for refresh tokens.",
                    examples=["Bearer", "refresh_token"],
                ),
                "exp": unix_seconds,
                "iat": {"type": "integer", "description": "Unix seconds of the last refresh."},
                "iss": _string("The issuer."),
                "sub": _string("The user, or the client itself for `client_credentials`."),
            },
            "if": {"properties": {"active": {"const": True}}},
            "then": {"required": ["scope", "client_id", "token_type", "exp", "iat", "iss", "sub"]},
        },
        "ServerMetadata": _metadata_schema(),
        "JWK": {
            "type": "object",
            "description": "A public signing key (RFC 7517).",
            "required": ["kty", "kid", "alg", "use"],
            "properties": {
                "kty": _string("`RSA`, `EC` or `OKP`.", examples=["RSA", "EC", "OKP"]),
                "kid": _string("The key id, `k<N>`.", examples=["k2"]),
                "alg": _string("`RS256`, `ES256` or `EdDSA`.", examples=["RS256"]),
                "use": _string("`sig`.", examples=["sig"]),
                "key_ops": {"type": "array", "items": {"type": "string"}},
                "n": _string("RSA modulus, base64url."),
                "e": _string("RSA exponent, base64url."),
                "crv": _string("The curve: `P-256` or `Ed25519`."),
                "x": _string("EC or OKP public key x, base64url."),
                "y": _string("EC public key y, base64url."),
            },
        },
        "JWKS": {
            "type": "object",
            "description": "Every live signing key.",
            "required": ["keys"],
            "properties": {"keys": {"type": "array", "items": _schema("JWK")}},
        },
        "UserInfo": {
            "type": "object",
            "description": "The claims UserInfo returns (OpenID Connect Core §5.3.2).",
            "required": ["sub"],
            "properties": {
                "sub": _string("The user's id."),
                "email": _string("With the `email` scope: the user's email."),
                "email_verified": {
                    "type": "boolean",
                    "description": "With the `email` scope; keyturn does not verify emails.",
                },
            },
        },
        "SignupRequest": {
            "type": "object",
            "description": "A user a partner creates.",
            "required": ["email", "registrationCode"],
            "properties": {
                "email": _string(
                    "A plain email address: something before an `@`, a dot after it, no "
                    "whitespace or control characters inside, at most 254 characters once "
                    "trimmed and lower-cased.",
                    format="email",
                    examples=["ann@example.com"],
                ),
                "registrationCode": _string(
                    "The code the partner will present in the `registration_code` grant: 1 to "
                    "512 characters of text, stored as an Argon2id hash.",
                    minLength=1,
                    maxLength=512,
                    pattern=NO_NUL,
                ),
            },
        },
        "SignupResponse": {
            "type": "object",
            "description": "The user created.",
            "required": ["id", "email", "active"],
            "properties": {
                "id": _string("The new user's id."),
                "email": _string("The email as stored (trimmed and lower-cased)."),
                "active": {"type": "boolean", "description": "Always true."},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": _string("`ok`.", examples=["ok"])},
        },
        "Readiness": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": _string(
                    "`ready`, or `unavailable` with a `reason`.",
                    examples=["ready", "unavailable"],
                ),
                "reason": _string("Why the database is not ready."),
            },
        },
        "HtmlPage": {"type": "string", "description": "An HTML document (UTF-8)."},
        "OpenAPIDocument": {
            "type": "object",
            "description": "An OpenAPI 3.1 document.",
            "required": ["openapi", "info", "paths"],
            "properties": {
                "openapi": {"type": "string", "pattern": "^3\\.1\\."},
                "info": {"type": "object"},
                "paths": {"type": "object"},
                "components": {"type": "object"},
            },
        },
    }


def _metadata_schema() -> dict[str, Any]:
    url = {"type": "string", "format": "uri"}
    strings = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "description": (
            "Authorization server metadata (RFC 8414 §2, OpenID Connect Discovery 1.0 §3)."
        ),
        "required": [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "response_types_supported",
            "subject_types_supported",
            "id_token_signing_alg_values_supported",
        ],
        "properties": {
            "issuer": url,
            "authorization_endpoint": url,
            "token_endpoint": url,
            "userinfo_endpoint": url,
            "jwks_uri": url,
            "revocation_endpoint": url,
            "introspection_endpoint": url,
            "grant_types_supported": strings,
            "response_types_supported": strings,
            "response_modes_supported": strings,
            "subject_types_supported": strings,
            "id_token_signing_alg_values_supported": strings,
            "code_challenge_methods_supported": strings,
            "prompt_values_supported": strings,
            "token_endpoint_auth_methods_supported": strings,
            "revocation_endpoint_auth_methods_supported": strings,
            "introspection_endpoint_auth_methods_supported": strings,
            "scopes_supported": strings,
            "claims_supported": strings,
            "authorization_response_iss_parameter_supported": {"type": "boolean"},
        },
    }


def _security_schemes() -> dict[str, Any]:
    return {
        "clientBasic": {
            "type": "http",
            "scheme": "basic",
            "description": (
                "`client_secret_basic` (RFC 6749 §2.3.1): the client id and secret, each "
                "form-urlencoded, then joined by a colon and base64-encoded. The other "
                "methods put `client_id` (and `client_secret`) in the form body instead; a "
                "request uses exactly one method."
            ),
        },
        "bearerToken": {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An access token keyturn issued (RFC 6750), opaque `kta_...` or a JWT, in "
                "the Authorization header."
            ),
        },
        "sessionCookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": "kt_session",
            "description": "The browser session, set by signing in or claiming an account.",
        },
    }


def public_components() -> dict[str, Any]:
    """The components `public_paths()` refers to (a fresh copy)."""
    return copy.deepcopy(
        {
            "schemas": {**_form_schemas(), **_answer_schemas()},
            "responses": _responses(),
            "headers": _headers(),
            "securitySchemes": _security_schemes(),
        }
    )
