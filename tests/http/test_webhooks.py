"""Webhooks over real servers and a real receiver: signed, at least once, each attempt once,
surviving a restart; and email to users through a real SMTP server."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook as Verifier

from keyturn.config import Secret, Settings
from keyturn.oauth.context import Context
from keyturn.operations.webhooks import create_webhook
from keyturn.runtime import open_admin_store, open_context
from tests.conftest import _fresh_database_url
from tests.http.helpers import make_partner, refresh, user_tokens
from tests.support import SECRET_KEY, ServerProcess, free_port, running_server

FAST = {"KEYTURN_WEBHOOK_RETRY_SECONDS": "0.2"}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP endpoint that keeps what it is sent and answers `status` (500 for the
    first `fail` requests)."""

    port: int
    fail: int = 0
    got: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def ids(self) -> list[str]:
        with self.lock:
            return [r.headers["webhook-id"] for r in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.got.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                failing = state.fail > 0
                state.fail -= 1
            self.send_response(500 if failing else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", state.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of the test's own: no other server polls its outbox."""
    async for url in _fresh_database_url(request.param, tmp_path):
        yield url


@asynccontextmanager
async def operator(server: ServerProcess) -> AsyncIterator[Context]:
    """Direct access to the server's database, as the command line has."""
    settings = settings_for(server)
    store = await open_admin_store(settings)
    try:
        yield await open_context(settings, store=store, create=False)
    finally:
        await store.close()


def settings_for(server: ServerProcess) -> Settings:
    return Settings(
        database=server.database, data_dir=str(server.data_dir), secret_key=Secret(SECRET_KEY)
    )


async def webhook_for(
    server: ServerProcess, url: str, kinds: tuple[str, ...] = ()
) -> tuple[str, str]:
    async with operator(server) as ctx:
        webhook, secret = await create_webhook(ctx, url, kinds, actor="cli")
    return webhook.webhook_id, secret


async def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def new_partner(server: ServerProcess) -> Any:
    async with operator(server) as ctx:
        return await make_partner(ctx)


async def cause_reuse(server: ServerProcess) -> tuple[str, str]:
    """A refresh_token_reuse event; returns the partner's client id and the user's email."""
    partner = await new_partner(server)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        tokens = await user_tokens(http, partner)
        first = tokens["refresh_token"]
        second = (await refresh(http, partner, first)).json()["refresh_token"]
        assert (await refresh(http, partner, second)).status_code == 200
        assert (await refresh(http, partner, first)).json()["reason"] == "reuse_detected"
    return partner.client_id, tokens["email"]


async def test_an_event_is_posted_signed_per_standard_webhooks(
    tmp_path: Path, receiver: Receiver, database: str
) -> None:
    with running_server(database, tmp_path / "a", **FAST) as server:
        _, secret = await webhook_for(server, receiver.url, ("refresh_token_reuse",))
        client_id, _ = await cause_reuse(server)
        await wait_for(lambda: any(client_id.encode() in r.body for r in receiver.got))
    [got] = [r for r in receiver.got if client_id.encode() in r.body]
    # The reference implementation checks the signature, the id and the timestamp.
    verified = Verifier(secret).verify(got.body, got.headers)
    assert verified["kind"] == "refresh_token_reuse" and verified["client_id"] == client_id
    assert got.headers["webhook-id"] == str(verified["id"])
    assert set(verified) == {
        "id",
        "kind",
        "at",
        "client_id",
        "user_id",
        "grant_id",
        "ip",
        "actor",
        "detail",
    }
    tampered = {**got.headers, "webhook-signature": "v1,AAAA"}
    with pytest.raises(Exception, match=r"[Ss]ignature"):
        Verifier(secret).verify(got.body, tampered)
    # Only the subscribed kinds: nothing else was sent (the partner's creation, say).
    assert all(json.loads(r.body)["kind"] == "refresh_token_reuse" for r in receiver.got)


async def test_a_failing_receiver_gets_the_same_event_again(
    tmp_path: Path, receiver: Receiver, database: str
) -> None:
    receiver.fail = 2
    with running_server(database, tmp_path / "a", **FAST) as server:
        webhook_id, _ = await webhook_for(server, receiver.url, ("user_created",))
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            await user_tokens(http, await new_partner(server))
        await wait_for(lambda: len(receiver.got) >= 3)
        ids = receiver.ids()
        assert len(set(ids[:3])) == 1  # one event, three attempts, one webhook-id
        # The receiver has answered; the outcome is written when the answer is read.
        async with operator(server) as ctx:
            deadline = time.monotonic() + 10
            while True:
                [delivery] = await ctx.store.page_deliveries(
                    channel="webhook", target=webhook_id, state=None, before_id=None, limit=10
                )
                if delivery.state != "pending" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 3, 204)


async def test_an_undelivered_event_survives_a_restart(tmp_path: Path, database: str) -> None:
    port = free_port()  # nothing listens there yet: every attempt is refused
    with running_server(database, tmp_path / "a", **FAST) as first:
        await webhook_for(first, f"http://127.0.0.1:{port}/hook", ("user_created",))
        async with httpx.AsyncClient(base_url=first.base_url) as http:
            await user_tokens(http, await new_partner(first))
        await asyncio.sleep(1.5)  # a few refused attempts
    got: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    listener = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    try:
        with running_server(database, tmp_path / "b", **FAST):
            await wait_for(lambda: len(got) >= 1, timeout=30)
    finally:
        listener.shutdown()
        listener.server_close()
    assert json.loads(got[0])["kind"] == "user_created"


async def test_two_instances_deliver_each_attempt_once(tmp_path: Path, receiver: Receiver) -> None:
    """Two instances on one PostgreSQL database, both polling the outbox."""
    async for database in _fresh_database_url("postgres", tmp_path):
        with (
            running_server(database, tmp_path / "a", **FAST) as one,
            running_server(database, tmp_path / "b", **FAST) as two,
        ):
            await webhook_for(one, receiver.url, ("user_created",))
            partner = await new_partner(one)
            async with httpx.AsyncClient(base_url=two.base_url) as http:
                for _ in range(15):
                    await user_tokens(http, partner)
            await wait_for(lambda: len(receiver.got) >= 15)
            await asyncio.sleep(2.5)  # time for any duplicate to arrive
    ids = receiver.ids()
    assert len(ids) == len(set(ids)) == 15


async def leases(database: str) -> dict[str, str]:
    connection = await asyncpg.connect(database)
    try:
        rows = await connection.fetch("SELECT name, holder FROM leases")
    finally:
        await connection.close()
    return {row["name"]: row["holder"] for row in rows}


async def test_background_work_runs_in_one_process_and_moves_when_it_dies(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Purging and reading events into the outbox are leased: one process of the whole
    deployment (two instances of two workers here) does each, and another takes over
    when that one is gone."""
    retry = FAST["KEYTURN_WEBHOOK_RETRY_SECONDS"]
    async for database in _fresh_database_url("postgres", tmp_path):
        one = ServerProcess(
            database,
            tmp_path / "a",
            workers=2,
            KEYTURN_GC_INTERVAL="1",
            KEYTURN_WEBHOOK_RETRY_SECONDS=retry,
        )
        with running_server(
            database,
            tmp_path / "b",
            workers=2,
            KEYTURN_GC_INTERVAL="1",
            KEYTURN_WEBHOOK_RETRY_SECONDS=retry,
        ) as two:
            try:
                await asyncio.sleep(2.5)
                first = await leases(database)
                assert set(first) == {"gc", "outbox"}
                await asyncio.sleep(2)
                assert await leases(database) == first  # renewed by the same holders
                holder_pid = int(first["outbox"].split("/")[1])
                owner = one if holder_pid in worker_pids(one) else two
                other = two if owner is one else one
                owner.stop()
                await webhook_for(other, receiver.url, ("user_created",))
                async with httpx.AsyncClient(base_url=other.base_url) as http:
                    await user_tokens(http, await new_partner(other))
                await wait_for(lambda: len(receiver.got) >= 1)  # the outbox moved
                assert (await leases(database))["outbox"] != first["outbox"]
            finally:
                one.stop()


def worker_pids(server: ServerProcess) -> set[int]:
    """The server's process and its workers' (their parent is the server)."""
    found = {server.process.pid}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == server.process.pid:
            found.add(int(stat.parent.name))
    return found


async def test_a_delivery_given_up_is_dead_in_the_admin_api(
    tmp_path: Path, receiver: Receiver, database: str
) -> None:
    receiver.fail = 10**6
    with running_server(database, tmp_path / "a", **FAST) as server:
        webhook_id, _ = await webhook_for(server, receiver.url, ("user_created",))
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            await user_tokens(http, await new_partner(server))
            await wait_for(lambda: len(receiver.got) >= 2)
            # A day later (the database says so): the next failure is the last.
            async with operator(server) as ctx:
                dialect = ctx.store._db  # type: ignore[attr-defined]
                await dialect.execute(
                    "UPDATE deliveries SET created_at = created_at - 90000 WHERE target = $1",
                    webhook_id,
                )
                token = await _admin_token(http, ctx)
            headers = {"Authorization": f"Bearer {token}"}

            async def dead() -> list[dict[str, Any]]:
                answer = await http.get(
                    f"/admin/v1/webhooks/{webhook_id}/deliveries",
                    params={"state": "dead"},
                    headers=headers,
                )
                items: list[dict[str, Any]] = answer.json()["items"]
                return items

            deadline = time.monotonic() + 15
            while not await dead():
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
            [item] = await dead()
    assert item["last_status"] == 500 and item["attempts"] >= 2 and item["finished_at"]


async def _admin_token(http: httpx.AsyncClient, ctx: Context) -> str:
    from keyturn.operations.clients import ClientSpec, create_client

    client, secret = await create_client(ctx, ClientSpec(name="Ops", admin=True), actor="cli")
    assert secret is not None
    answer = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, secret)
    )
    token: str = answer.json()["access_token"]
    return token


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes

        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


async def test_the_user_is_emailed_about_reuse(tmp_path: Path, database: str) -> None:
    inbox = _Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with running_server(
            database,
            tmp_path / "a",
            KEYTURN_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}",
            KEYTURN_SMTP_FROM="security@keyturn.example",
            **FAST,
        ) as server:
            _, email = await cause_reuse(server)
            await wait_for(lambda: any(m["To"] == email for m in inbox.messages))
    finally:
        smtp.stop()
    [mail] = [m for m in inbox.messages if m["To"] == email]
    text = mail.get_payload(decode=True)
    assert isinstance(text, bytes)
    body = text.decode()
    assert mail["From"] == "security@keyturn.example"
    assert "Security alert" in mail["Subject"]
    assert "Your access for Partner was revoked because an old refresh token was used" in body
    for secret_looking in ("ktr_", "kta_", "code-1234567"):
        assert secret_looking not in body
