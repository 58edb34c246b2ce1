"""A Python peer from bench/peers under gunicorn, on its own PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
import subprocess

from bench.common import REDIRECT, ROOT, Row
from bench.databases import fresh_database
from bench.load import chains
from bench.peers_venv import peers_python
from bench.processes import process, tree
from bench.seed import code_flow_tokens
from testkit.services import free_port


def bench_python_peer(
    label: str,
    script: str,
    wsgi_app: str,
    authorize_path: str,
    token_path: str,
    scope: str,
    conns: list[int],
    seconds: float,
    tokens: int,
    workers: int = 2,
    **extra_env: str,
) -> list[Row]:
    """A WSGI peer from bench/peers under gunicorn on its own PostgreSQL database."""
    python = peers_python()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth = ("bench", "bench-secret-0123456789-abcdefghij")
    peers = ROOT / "bench" / "peers"
    with fresh_database() as url:
        env = {
            "DATABASE_URL": url,
            "CLIENT_ID": auth[0],
            "CLIENT_SECRET": auth[1],
            "REDIRECT_URI": REDIRECT,
            **extra_env,
        }
        subprocess.run([str(python), script], cwd=peers, check=True, env={**os.environ, **env})
        gunicorn = [
            str(python),
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            wsgi_app,
        ]
        with process(gunicorn, env, cwd=peers, ready=f"{base}{token_path}") as proc:
            pool = asyncio.run(
                code_flow_tokens(
                    f"{base}{authorize_path}", f"{base}{token_path}", *auth, REDIRECT, tokens, scope
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
                token_path,
                with_db=True,
            )
