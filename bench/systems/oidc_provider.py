"""node oidc-provider (npm, installed into .cache/ by testkit.oidc_provider)."""

from __future__ import annotations

import asyncio
import uuid

from bench.common import REDIRECT, Row
from bench.load import chains
from bench.processes import process, tree
from bench.seed import code_flow_tokens
from testkit.oidc_provider import install_oidc_provider
from testkit.services import REDIS_URL, free_port


def bench_oidc_provider(
    label: str, adapter: str, conns: list[int], seconds: float, tokens: int
) -> list[Row]:
    """node oidc-provider in memory (its best case) or on Redis (redis_adapter.mjs)."""
    folder = install_oidc_provider()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "PORT": str(port),
        "CLIENT_ID": "bench",
        "ACCESS_TTL": "43200",
        "CLIENT_SECRET": "bench-secret-0123456789-abcdefghij",
        "REDIRECT_URI": REDIRECT,
        "ADAPTER": adapter,
        "NODE_ENV": "production",
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": f"oidc-bench-{uuid.uuid4().hex[:8]}:",
    }
    auth = ("bench", env["CLIENT_SECRET"])
    with process(
        ["node", "oidc_provider_server.mjs"],
        env,
        cwd=folder,
        ready=f"{base}/.well-known/openid-configuration",
    ) as proc:
        pool = asyncio.run(
            code_flow_tokens(
                f"{base}/auth",
                f"{base}/token",
                *auth,
                REDIRECT,
                tokens,
                "openid offline_access",
                prompt="consent",
            )
        )
        return chains(
            label,
            conns,
            lambda: tree(proc.pid),
            base,
            pool,
            auth,
            seconds,
            "/token",
            with_db="redis" if adapter == "redis" else False,
        )
