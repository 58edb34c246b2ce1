"""Refresh storms and crashes with real processes sharing a real store."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from keyturn.client import AsyncTokenManager
from keyturn.oauth.context import Context
from tests.client.conftest import KEYS, issue, make_app_client
from tests.support import ServerProcess

PROCESSES = 8
THREADS = 32
REFRESHES = re.compile(
    r'keyturn_token_requests_total\{grant_type="refresh_token",outcome="(\w+)"\} (\S+)'
)


async def refresh_count(server: ServerProcess) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        text = (await http.get("/metrics")).text
    return {outcome: float(value) for outcome, value in REFRESHES.findall(text)}


def spawn(options: dict[str, object]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "testkit.storm_child", json.dumps(options)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def reap(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out, err


async def test_refresh_storm_reaches_the_server_once(
    server: ServerProcess, admin_ctx: Context, store_url: str
) -> None:
    if store_url == "memory":
        pytest.skip("processes cannot share the memory store")
    # Access tokens of 4 s: due about 3.4 to 3.6 s after they are saved.
    client, secret = await make_app_client(admin_ctx, access_ttl=4)
    account = f"storm-{uuid.uuid4().hex[:8]}"
    response = await issue(admin_ctx, client)
    tm = AsyncTokenManager(
        issuer=server.base_url,
        client_id=client.client_id,
        client_secret=secret,
        store=store_url,
        encryption_keys=KEYS,
    )
    await tm.save(account, response)
    await tm.aclose()
    before = await refresh_count(server)
    options = {
        "issuer": server.base_url,
        "client_id": client.client_id,
        "client_secret": secret,
        "store": store_url,
        "keys": KEYS,
        "account": account,
        "threads": THREADS,
        "initial": response["access_token"],
        "seconds": 20,
    }
    processes = [spawn(options) for _ in range(PROCESSES)]
    try:
        results = [reap(process) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    reports = []
    for code, out, err in results:
        assert code == 0, err
        reports.append(json.loads(out.splitlines()[-1]))
    assert all(not report["errors"] for report in reports), reports
    tokens = {token for report in reports for token in report["tokens"]}
    assert len(tokens) == 1 and response["access_token"] not in tokens
    after = await refresh_count(server)
    reached = sum(after.values()) - sum(before.values())
    assert reached == 1, f"{reached} refreshes reached the server"


async def test_process_killed_mid_refresh_leaves_a_usable_token(
    server: ServerProcess, admin_ctx: Context, store_url: str
) -> None:
    if store_url == "memory":
        pytest.skip("processes cannot share the memory store")
    # 60 s access tokens, seen 57 s into their life: due for refresh, not yet expired.
    client, secret = await make_app_client(admin_ctx, access_ttl=60)
    account = f"crash-{uuid.uuid4().hex[:8]}"
    response = await issue(admin_ctx, client)
    saver = AsyncTokenManager(
        issuer=server.base_url,
        client_id=client.client_id,
        client_secret=secret,
        store=store_url,
        encryption_keys=KEYS,
    )
    await saver.save(account, response)
    await saver.aclose()
    tm = AsyncTokenManager(
        issuer=server.base_url,
        client_id=client.client_id,
        client_secret=secret,
        store=store_url,
        encryption_keys=KEYS,
        lock_lease=2.0,
        clock=lambda: time.time() + 57,
    )
    doomed = spawn(
        {
            "clock_offset": 57,
            "issuer": server.base_url,
            "client_id": client.client_id,
            "client_secret": secret,
            "store": store_url,
            "keys": KEYS,
            "account": account,
            "threads": 1,
            "initial": response["access_token"],
            "seconds": 20,
            "die_after_refresh": True,
            "lease": 2.0,
        }
    )
    code, _, _ = reap(doomed)
    assert code == -9  # SIGKILL, with the server's answer in hand and nothing stored
    # The survivor waits out the dead holder's lease, retries the same refresh
    # token inside the server's grace window, and gets the same answer.
    token = await tm.access_token(account)
    assert token != response["access_token"]
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        answer = await http.post(
            "/oauth/introspect", data={"token": token}, auth=(client.client_id, secret or "")
        )
    assert answer.json()["active"] is True
    await tm.aclose()
