"""Scope strings (RFC 6749 §3.3): space-delimited, case-sensitive tokens."""

from __future__ import annotations

import re

from keyturn.oauth.errors import InvalidScope

# Scopes with a meaning to this server (OIDC Core §5.4, §11); clients may add their own.
STANDARD_SCOPES = ("openid", "offline_access", "email")

# scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")


def parse_scope(text: str) -> list[str]:
    """Split a scope string, keeping first-seen order and dropping repeats."""
    seen: dict[str, None] = {}
    for token in text.split(" "):
        if not token:
            continue
        if not _SCOPE_TOKEN.fullmatch(token):
            raise InvalidScope("The scope contains characters RFC 6749 does not allow.")
        seen[token] = None
    return list(seen)


def narrow_scope(requested: str | None, allowed: str, *, default: str | None = None) -> str:
    """The requested scope if it is within `allowed`, else `invalid_scope`."""
    if requested is None:
        return allowed if default is None else default
    wanted = parse_scope(requested)
    if not wanted:
        raise InvalidScope("The scope parameter is empty.")
    extra = set(wanted) - set(parse_scope(allowed))
    if extra:
        raise InvalidScope(
            "The requested scope exceeds what is allowed.", detail=f"extra={sorted(extra)}"
        )
    return " ".join(wanted)


def has_scope(scope: str, token: str) -> bool:
    return token in scope.split(" ")
