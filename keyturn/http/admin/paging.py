"""Opaque cursors for keyset pagination: the sort key of a page's last item."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query

from keyturn.http.admin.problems import ApiProblem

T = TypeVar("T")

# The query parameters of every list operation.
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=500, description="next_cursor of a page")]


def encode_cursor(key: tuple[Any, ...]) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None, types: tuple[type, ...]) -> tuple[Any, ...] | None:
    """The key a cursor holds, checked against the key's types; 422 for anything else
    (a cursor is ours, so a forged or truncated one is the caller's mistake)."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise ApiProblem(422, "the cursor is not one this API gave out") from None
    if (
        not isinstance(key, list)
        or len(key) != len(types)
        or not all(_is(value, kind) for value, kind in zip(key, types, strict=True))
    ):
        raise ApiProblem(422, "the cursor is not one this API gave out")
    return tuple(key)


def _is(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def page_of(
    items: Sequence[T], limit: int, key: Callable[[T], tuple[Any, ...]]
) -> tuple[list[T], str | None]:
    """`items` were fetched with `limit + 1`: the page, and a cursor only if there is more."""
    page = list(items[:limit])
    if len(items) <= limit:
        return page, None
    return page, encode_cursor(key(page[-1]))
