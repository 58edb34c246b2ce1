"""What the server-rendered pages share: templates, cookies, CSRF, security headers."""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import Environment, FileSystemLoader, select_autoescape

from keyturn.http.asgi import Request, Response
from keyturn.oauth.secrets import constant_equals
from keyturn.oauth.text import storable

SESSION_COOKIE = "kt_session"
LOGIN_CSRF_COOKIE = "kt_csrf"
SESSION_SECONDS = 14 * 24 * 3600
MAX_RETURN_PATH = 4096
MAX_FIELD = 16 * 1024  # one form or query value; whole bodies are capped separately

# Pages may not be framed (clickjacking on consent), sniffed, or leak the
# authorization request through Referer.
PAGE_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none';"
        b" base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

# Plain words for the consent and account pages.
SCOPE_WORDS = {
    "openid": "Confirm who you are",
    "offline_access": "Stay connected when you are not using the app",
    "email": "See your email address",
    "profile": "See your basic profile",
}


def describe_scope(scope: str) -> list[str]:
    return [SCOPE_WORDS.get(name, f"Use “{name}”") for name in scope.split()]


@dataclass(frozen=True, slots=True)
class Web:
    csrf_key: bytes
    secure_cookies: bool

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        body = _TEMPLATES.get_template(template).render(describe_scope=describe_scope, **context)
        return Response(status, body.encode(), list(PAGE_HEADERS))

    def redirect(self, location: str, status: int = 303) -> Response:
        return Response(
            status,
            b"",
            [
                (b"location", location.encode()),
                (b"cache-control", b"no-store"),
                (b"referrer-policy", b"no-referrer"),
            ],
        )

    def cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        attributes = f"{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
        if self.secure_cookies:
            attributes += "; Secure"
        response.headers.append((b"set-cookie", attributes.encode()))

    def render_signed_out_form(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> Response:
        """A form posted before any session exists (sign-in, claim): double-submit CSRF.

        Without it another site could post its own credentials and sign the
        visitor into the attacker's account (login CSRF).
        """
        token = cookies(request).get(LOGIN_CSRF_COOKIE) or new_csrf_token()
        response = self.render(template, status, csrf=token, **context)
        self.cookie(response, LOGIN_CSRF_COOKIE, token, 3600)
        return response

    def check_signed_out_csrf(self, request: Request, presented: str | None) -> bool:
        expected = cookies(request).get(LOGIN_CSRF_COOKIE, "")
        return bool(expected) and constant_equals(expected.encode(), (presented or "").encode())

    def session_csrf(self, session_token: str) -> str:
        """A CSRF token bound to the session: forms of one session only."""
        digest = hmac.digest(self.csrf_key, session_token.encode(), "sha256")
        return base64.urlsafe_b64encode(digest[:24]).decode()

    def check_session_csrf(self, session_token: str, presented: str | None) -> bool:
        return presented is not None and constant_equals(
            self.session_csrf(session_token).encode(), presented.encode()
        )


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def cookies(request: Request) -> dict[str, str]:
    header = request.header(b"cookie")
    if not header:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def form_fields(request: Request) -> dict[str, str]:
    """A browser form: last value wins; bad encoding or a NUL yields nothing."""
    try:
        pairs = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return {}
    if not all(storable(name, MAX_FIELD) and storable(value, MAX_FIELD) for name, value in pairs):
        return {}
    return dict(pairs)


def query_fields(request: Request) -> tuple[dict[str, str], str | None]:
    """The query string, and what makes it unusable, if anything (RFC 6749 §3.1)."""
    return parse_query(request.query)


def parse_query(raw: bytes) -> tuple[dict[str, str], str | None]:
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return {}, "it is not valid UTF-8"
    if not all(storable(name, MAX_FIELD) and storable(value, MAX_FIELD) for name, value in pairs):
        return {}, "it contains a NUL character or an overlong value"
    fields = dict(pairs)
    if len(fields) != len(pairs):
        return {}, "a parameter is repeated"
    return fields, None


def safe_return_path(path: str | None, default: str = "/account") -> str:
    r"""Only a path on this site, or `default`: never an open redirect.

    Browsers drop tabs and newlines from a URL and read `\` as `/`, so
    `/<TAB>/evil.example/` becomes `//evil.example/`, another site. Anything
    but printable ASCII is refused rather than normalised, and so is a path
    that a browser would read as starting a host (`//`, `/\`).
    """
    if not path or len(path) > MAX_RETURN_PATH or not path.startswith("/"):
        return default
    if not all("\x21" <= char <= "\x7e" for char in path) or "\\" in path:
        return default
    if path.startswith("//"):
        return default
    return path
