"""The client SDK: access_token()'s hot path with a cached token, and the refresh storm
(many processes and threads, one expiry) against a keyturn server."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import PASSWORD, REDIRECT, ROOT, SECRET_KEY
from bench.processes import process
from bench.seed import keyturn_tokens
from bench.systems.keyturn import keyturn_app, serve_command
from testkit.services import free_port


def sdk_hot_path(rounds: int) -> tuple[float, float]:
    """Median microseconds per access_token() with a valid cached token: sync, async."""
    from keyturn.client import AsyncTokenManager, TokenManager

    response = {"access_token": "kta_x", "expires_in": 43200, "refresh_token": "ktr_y"}
    calls = 20_000
    with TokenManager(
        token_endpoint="http://127.0.0.1:9/token", client_id="c", store="memory", cache_seconds=3600
    ) as tm:
        tm.save("a", response)
        sync_samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(calls):
                tm.access_token("a")
            sync_samples.append((time.perf_counter() - started) / calls * 1e6)

    async def run_async() -> list[float]:
        atm = AsyncTokenManager(
            token_endpoint="http://127.0.0.1:9/token",
            client_id="c",
            store="memory",
            cache_seconds=3600,
        )
        await atm.save("a", response)
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(calls):
                await atm.access_token("a")
            samples.append((time.perf_counter() - started) / calls * 1e6)
        await atm.aclose()
        return samples

    return statistics.median(sync_samples), statistics.median(asyncio.run(run_async()))


def sdk_storm(processes: int = 8, threads: int = 32) -> tuple[int, float]:
    """The SDK's refresh storm: how many refreshes reach the server for one expiry, and
    seconds from the token falling due until every caller holds the new one."""
    from keyturn.client import AsyncTokenManager

    data = Path(tempfile.mkdtemp(prefix="kt-storm-"))
    database = f"sqlite:///{data / 'server.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth, email = keyturn_app(database, data, "--access-ttl", "4")
    keys = ["storm-benchmark-key-0123456789-abcdefgh"]
    store = f"sqlite:///{data / 'sdk.db'}"
    counted = re.compile(r'keyturn_token_requests_total\{grant_type="refresh_token",[^}]*\} (\S+)')

    def refreshes() -> float:
        return sum(float(v) for v in counted.findall(httpx.get(f"{base}/metrics").text))

    command = serve_command(port, database, data)
    with process(command, {"KEYTURN_SECRET_KEY": SECRET_KEY}, ready=f"{base}/healthz"):
        seed = asyncio.run(keyturn_tokens(base, *auth, REDIRECT, email, PASSWORD, 1))[0]
        response = httpx.post(
            f"{base}/oauth/token",
            auth=auth,
            data={"grant_type": "refresh_token", "refresh_token": seed},
        ).json()

        async def save() -> float:
            manager = AsyncTokenManager(
                issuer=base,
                client_id=auth[0],
                client_secret=auth[1],
                store=store,
                encryption_keys=keys,
            )
            record = await manager.save("storm", response)
            await manager.aclose()
            assert record.refresh_at is not None
            return record.refresh_at

        due = asyncio.run(save())
        before = refreshes()
        options = {
            "issuer": base,
            "client_id": auth[0],
            "client_secret": auth[1],
            "store": store,
            "keys": keys,
            "account": "storm",
            "threads": threads,
            "initial": response["access_token"],
            "seconds": 30,
        }
        children = [
            subprocess.Popen(
                [sys.executable, "-m", "testkit.storm_child", json.dumps(options)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for _ in range(processes)
        ]
        reports = [
            json.loads(child.communicate(timeout=120)[0].splitlines()[-1]) for child in children
        ]
        reached = int(refreshes() - before)
    shutil.rmtree(data, ignore_errors=True)
    return reached, max(report["done_at"] for report in reports) - due
