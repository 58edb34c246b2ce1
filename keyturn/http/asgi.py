"""A deliberately thin request/response pair over raw ASGI.

The token endpoint is the hot path of every deployment; a framework's
routing, middleware stack and per-request objects cost more CPU than the
refresh itself (docs/benchmarks.md). Pages use the same primitives with templates.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from keyturn import logs
from keyturn.config import Network
from keyturn.http.forwarded import client_address

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 64 * 1024


class BodyTooLarge(Exception):
    pass


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: bytes
    headers: dict[bytes, bytes]
    body: bytes
    client_ip: str | None

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


JSON_TYPE = (b"content-type", b"application/json")
# One encoder for every response: json.dumps builds a new one per call when
# given separators, which is measurable on the token endpoint.
_encode_json = json.JSONEncoder(separators=(",", ":")).encode
NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


def json_response(
    payload: Any, status: int = 200, *, no_store: bool = True, headers: dict[str, str] | None = None
) -> Response:
    out = [JSON_TYPE, *(NO_STORE if no_store else ())]
    for name, value in (headers or {}).items():
        out.append((name.lower().encode(), value.encode("latin-1")))
    body = _encode_json(payload).encode()
    return Response(status, body, out)


# Headers whose repeats form one list (RFC 9110 §5.3): every proxy's hop counts.
_LIST_HEADERS = (b"x-forwarded-for", b"forwarded")


async def read_request(
    scope: Scope,
    receive: Receive,
    trusted_proxies: tuple[Network, ...] = (),
    forwarded_header: str = "x-forwarded-for",
) -> Request:
    """Collect the body (bounded) and index the headers; the last repeat of a header wins."""
    headers: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in headers and name in (b"authorization", b"content-type"):
            # Ambiguous credentials or framing: keep both so the caller can refuse.
            headers[name] = headers[name] + b"\x00" + value
        elif name in headers and name in _LIST_HEADERS:
            headers[name] = headers[name] + b"," + value
        else:
            headers[name] = value
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge
        chunks.append(chunk)
        more = message.get("more_body", False)
    client = scope.get("client")
    peer = client[0] if client else None
    address = (
        client_address(peer, headers, trusted_proxies, forwarded_header)
        if trusted_proxies
        else peer
    )
    logs.client_ip.set(address)
    return Request(
        method=scope["method"],
        path=scope["path"],
        query=scope.get("query_string", b""),
        headers=headers,
        body=b"".join(chunks),
        client_ip=address,
    )


async def send_response(send: Send, response: Response) -> None:
    headers = [*response.headers, (b"content-length", str(len(response.body)).encode())]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
