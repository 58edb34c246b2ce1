"""The serving layer over real sockets: a deadline for slow requests, forwarded
headers believed only from trusted proxies, an environment with foreign variables."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from keyturn.oauth.context import Context
from tests.http.helpers import make_partner, user_tokens
from tests.support import ServerProcess, running_server

FORWARDED_CLIENT = "203.0.113.9"


@pytest.fixture(scope="module")
def proxied_server(
    server_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server that trusts loopback as its proxy, and gives slow requests 2 s."""
    with running_server(
        server_database,
        tmp_path_factory.mktemp("proxied"),
        KEYTURN_TRUSTED_PROXIES="127.0.0.0/8,::1/128",
        KEYTURN_READ_TIMEOUT="2",
    ) as process:
        yield process


@pytest.fixture
async def proxied(proxied_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=proxied_server.base_url, timeout=10) as client:
        yield client


async def last_ip_after_refresh(
    http: httpx.AsyncClient, ctx: Context, headers: dict[str, str]
) -> str | None:
    partner = await make_partner(ctx)
    tokens = await user_tokens(http, partner)
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=partner.auth,
        headers=headers,
    )
    assert response.status_code == 200, response.text
    grants = await ctx.store.list_grants(client_id=partner.client_id, now=time.time())
    (user_grant,) = [grant for grant in grants if grant.user_id is not None]
    return user_grant.last_ip


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    http: httpx.AsyncClient, admin_ctx: Context
) -> None:
    """By default no peer is a proxy, not even loopback."""
    headers = {"X-Forwarded-For": FORWARDED_CLIENT, "Forwarded": f"for={FORWARDED_CLIENT}"}
    assert await last_ip_after_refresh(http, admin_ctx, headers) == "127.0.0.1"


@pytest.mark.parametrize(
    ("headers", "client"),
    [
        ({"X-Forwarded-For": FORWARDED_CLIENT}, FORWARDED_CLIENT),
        # The client wrote the left-most entry itself; the proxy appended the real one.
        ({"X-Forwarded-For": f"198.51.100.1, {FORWARDED_CLIENT}"}, FORWARDED_CLIENT),
        # A second trusted proxy in the chain is skipped.
        ({"X-Forwarded-For": f"{FORWARDED_CLIENT}, 127.0.0.5"}, FORWARDED_CLIENT),
        ({"X-Forwarded-For": f"not-an-ip, {FORWARDED_CLIENT}"}, FORWARDED_CLIENT),
        # Garbage right behind a trusted proxy: stop there, never believe what is left of it.
        ({"X-Forwarded-For": f"{FORWARDED_CLIENT}, garbage"}, "127.0.0.1"),
        ({"X-Forwarded-For": ""}, "127.0.0.1"),
        # The proxy writes X-Forwarded-For; a Forwarded header the client sent is not read.
        ({"Forwarded": "for=9.9.9.9", "X-Forwarded-For": FORWARDED_CLIENT}, FORWARDED_CLIENT),
        ({"Forwarded": "for=9.9.9.9"}, "127.0.0.1"),
    ],
)
async def test_forwarded_for_from_a_trusted_proxy_names_the_right_most_untrusted_hop(
    proxied: httpx.AsyncClient, admin_ctx: Context, headers: dict[str, str], client: str
) -> None:
    assert await last_ip_after_refresh(proxied, admin_ctx, headers) == client


@pytest.fixture(scope="module")
def rfc7239_server(
    server_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server behind a proxy that writes RFC 7239 Forwarded headers."""
    with running_server(
        server_database,
        tmp_path_factory.mktemp("rfc7239"),
        KEYTURN_TRUSTED_PROXIES="127.0.0.0/8",
        KEYTURN_FORWARDED_HEADER="forwarded",
    ) as process:
        yield process


@pytest.mark.parametrize(
    ("headers", "client"),
    [
        ({"Forwarded": 'for="[2001:db8::1]:4711";proto=https'}, "2001:db8::1"),
        ({"Forwarded": f"for=198.51.100.1, for={FORWARDED_CLIENT}:80"}, FORWARDED_CLIENT),
        ({"Forwarded": "for=unknown"}, "127.0.0.1"),
        # Now X-Forwarded-For is the one a client could have written itself.
        ({"X-Forwarded-For": "9.9.9.9", "Forwarded": f"for={FORWARDED_CLIENT}"}, FORWARDED_CLIENT),
        ({"X-Forwarded-For": "9.9.9.9"}, "127.0.0.1"),
    ],
)
async def test_a_forwarded_header_proxy_is_read_through_forwarded_only(
    rfc7239_server: ServerProcess, admin_ctx: Context, headers: dict[str, str], client: str
) -> None:
    async with httpx.AsyncClient(base_url=rfc7239_server.base_url, timeout=10) as http:
        assert await last_ip_after_refresh(http, admin_ctx, headers) == client


def slow_request(base_url: str, body_after: float) -> bytes:
    """Send the headers of a POST, then wait before the body; return what the server says."""
    port = int(base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(
            b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 24\r\n\r\n"
        )
        time.sleep(body_after)
        try:
            sock.sendall(b"grant_type=refresh_token")
        except OSError:
            return b""
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return received
            if not chunk:
                return received
            received += chunk
            if b"\r\n\r\n" in received:
                return received


def trickle_headers(base_url: str, seconds: float) -> float:
    """Send one header byte at a time; return how long the server kept listening."""
    port = int(base_url.rsplit(":", 1)[1])
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        while time.monotonic() - started < seconds:
            try:
                sock.sendall(b"a")
            except OSError:
                break
            time.sleep(0.2)
        else:
            return seconds
        return time.monotonic() - started


def test_a_request_trickling_its_headers_is_cut_off(proxied_server: ServerProcess) -> None:
    kept = trickle_headers(proxied_server.base_url, seconds=8)
    assert kept < 5, f"the connection stayed open {kept:.1f} s with a 2 s read timeout"


def test_a_request_whose_body_never_arrives_is_cut_off(proxied_server: ServerProcess) -> None:
    assert not slow_request(proxied_server.base_url, body_after=4).startswith(b"HTTP/1.1 200")


def test_a_slow_but_timely_request_is_answered(proxied_server: ServerProcess) -> None:
    answer = slow_request(proxied_server.base_url, body_after=0.5)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]  # no client credentials


def test_a_keep_alive_connection_gets_a_fresh_deadline_per_request(
    proxied_server: ServerProcess,
) -> None:
    with httpx.Client(base_url=proxied_server.base_url) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            time.sleep(1.2)  # more than half the deadline between requests, 3.6 s in all


def test_kubernetes_service_variables_are_ignored_with_one_warning(
    server_database: str, tmp_path: Path
) -> None:
    injected = {
        "KEYTURN_SERVICE_HOST": "10.0.0.7",
        "KEYTURN_SERVICE_PORT": "8000",
        "KEYTURN_PORT": "tcp://10.0.0.7:8000",
        "KEYTURN_PORT_8000_TCP": "tcp://10.0.0.7:8000",
        "KEYTURN_PORT_8000_TCP_ADDR": "10.0.0.7",
    }
    with running_server(server_database, tmp_path / "k8s", **injected) as process:
        assert httpx.get(f"{process.base_url}/healthz").status_code == 200
        log = process.log_path.read_text()
    assert log.count("ignoring environment variables that are no setting") == 1
    assert "KEYTURN_SERVICE_HOST" in log and "KEYTURN_PORT_8000_TCP_ADDR" in log
    assert "ignoring KEYTURN_PORT='tcp://10.0.0.7:8000'" in log


def _start_token_request(port: int, body: bytes) -> socket.socket:
    """A request whose headers have arrived and whose body has not: in flight."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    sock.sendall(
        b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    time.sleep(0.5)  # the application has started on it and waits for the body
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_sigterm_lets_an_in_flight_request_finish(tmp_path: Path) -> None:
    import signal

    body = b"grant_type=client_credentials"
    server = ServerProcess(
        f"sqlite:///{tmp_path / 'k.db'}", tmp_path / "data", KEYTURN_SHUTDOWN_TIMEOUT="8"
    )
    try:
        sock = _start_token_request(server.port, body)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        with pytest.raises(OSError):  # no new connections while it drains
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
        assert server.process.poll() is None  # still serving the one in flight
        sock.sendall(body)
        answer = _read_all(sock)
        sock.close()
        # A complete answer in the protocol's format: no client credentials.
        assert answer.startswith(b"HTTP/1.1 401 ")
        assert b'"error":"invalid_client"' in answer
        assert server.process.wait(timeout=10) in (0, -signal.SIGTERM)
    finally:
        server.stop()


def test_sigterm_gives_up_on_a_request_after_the_shutdown_timeout(tmp_path: Path) -> None:
    import signal

    server = ServerProcess(
        f"sqlite:///{tmp_path / 'k.db'}", tmp_path / "data", KEYTURN_SHUTDOWN_TIMEOUT="1"
    )
    try:
        sock = _start_token_request(server.port, b"grant_type=client_credentials")
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=10) in (0, -signal.SIGTERM)
        assert time.monotonic() - started < 6  # the timeout, not the 10 s read deadline
        answer = _read_all(sock)
        sock.close()
    finally:
        log = server.stop()
    # Unanswered when time ran out: a 503 the client may retry, and no traceback.
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b'"error":"temporarily_unavailable"' in answer and b"retry-after: 1" in answer
    assert "Traceback" not in log
