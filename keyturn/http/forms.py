"""Form bodies of OAuth endpoints (RFC 6749 §3.2, application/x-www-form-urlencoded)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from keyturn.http.asgi import Request
from keyturn.oauth.errors import InvalidRequest

MAX_FIELDS = 32


def parse_form(request: Request) -> dict[str, str]:
    """Decode the form, refusing anything ambiguous: parameters MUST NOT repeat."""
    content_type = request.header(b"content-type") or ""
    if content_type.split(";", 1)[0].strip().lower() != "application/x-www-form-urlencoded":
        raise InvalidRequest("The body must be application/x-www-form-urlencoded.")
    try:
        text = request.body.decode("ascii")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The form body is not valid URL-encoded UTF-8.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise InvalidRequest("The form body contains a NUL character.")
        if name in form:
            raise InvalidRequest(f"The {_printable(name)} parameter is repeated.")
        form[name] = value
    return form


def _printable(name: str) -> str:
    return name if name.isascii() and name.isprintable() and len(name) < 40 else "a"
