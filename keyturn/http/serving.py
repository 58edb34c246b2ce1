"""How `keyturn serve` runs uvicorn: a read timeout per request, no forwarded headers.

uvicorn has a keep-alive timeout between requests but none while a request
arrives, so a client that sends one header byte every few seconds holds a
connection (and, multiplied, the server) forever: slowloris. The protocol
below gives every request a deadline for its headers and body together, and
closes the connection when it passes.

uvicorn's own proxy-header support trusts any loopback peer by default; keyturn
turns it off and decides itself which peers may speak for the client
(`keyturn.http.forwarded`).
"""

from __future__ import annotations

import asyncio
import functools
import socket
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from keyturn.config import ConfigError, Settings


class ReadTimeoutProtocol(HttpToolsProtocol):
    """HTTP/1.1 with a deadline from a request's first byte to its last."""

    def __init__(self, *args: Any, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout
        self._read_deadline: asyncio.TimerHandle | None = None
        self._reading = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never completes a request counts from its opening.
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading = True
        if self._read_deadline is None:
            self._arm()

    def on_message_complete(self) -> None:
        self._reading = False
        self._disarm()
        super().on_message_complete()

    def _arm(self) -> None:
        self._disarm()
        self._read_deadline = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete and not self._reading:
            return  # the request arrived in time; its response is being produced
        # Dropping the connection also tells a handler waiting for the body
        # (it sees http.disconnect), so nothing is left waiting.
        self.transport.close()


def bind_listeners(settings: Settings) -> list[socket.socket]:
    """The main port, and the management port if one is set; a port in use is a
    one-line ConfigError before anything else happens."""
    sockets = [_bind(settings.host, settings.port, "port")]
    if settings.management_port is not None:
        sockets.append(_bind(settings.host, settings.management_port, "management_port"))
    return sockets


def run_server(settings: Settings, sockets: list[socket.socket]) -> None:
    """`keyturn serve`: uvicorn on the bound listeners.

    Both listeners feed the same application, which tells them apart by the local
    port of each connection; with several workers each worker serves both.
    """
    config = uvicorn.Config(
        "keyturn.http.app:create_app", factory=True, **uvicorn_options(settings)
    )
    if settings.workers > 1:
        Multiprocess(config, sockets=sockets).run()
    else:
        uvicorn.Server(config).run(sockets=sockets)


def _bind(host: str, port: int, setting: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{setting} {port} on {host}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments for `uvicorn.run` that keyturn's settings decide."""
    return {
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "loop": "uvloop",
        "http": functools.partial(ReadTimeoutProtocol, read_timeout=settings.read_timeout),
        "lifespan": "on",
        # On SIGTERM: stop accepting, let in-flight requests finish for this long, exit.
        "timeout_graceful_shutdown": settings.shutdown_timeout,
        "log_level": settings.log_level,
        "log_config": None,  # keyturn.logs configures logging, uvicorn's loggers included
        "access_log": False,
        "server_header": False,
        "proxy_headers": False,
    }
