"""`keyturn serve`: check everything that can be wrong, then hand over to uvicorn.

The order matters to an operator: settings, the listeners and the database
are checked first, each failure one line naming the setting, so nothing is
printed as if started when it was not.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import tempfile

from keyturn import __version__, logs
from keyturn.cli.options import given_settings
from keyturn.config import ENV_PREFIX, Settings, check_serving, load_settings, master_secret
from keyturn.runtime import open_context
from keyturn.store import open_store

log = logging.getLogger("keyturn.serve")


def serve(args: argparse.Namespace) -> int:
    from keyturn.http.serving import bind_listeners, run_server

    flags = given_settings(args)
    settings = load_settings(flags)
    logs.configure(settings.log_level, settings.log_format)
    _hand_down(flags)
    check_serving(settings)
    master_secret(settings, create=True)  # once, before workers race for it
    sockets = bind_listeners(settings)  # a port in use fails here, in one line
    asyncio.run(_prepare(settings))
    if settings.workers > 1 and not settings.redis:
        log.warning(
            "rate limits are per worker: with %d workers and no --redis each worker counts "
            "on its own, so a client may make up to %d times the limit",
            settings.workers,
            settings.workers,
        )
    metrics_folder = _multiprocess_metrics() if settings.workers > 1 else None
    print(f"keyturn {__version__} issuer {settings.issuer_url}", flush=True)
    try:
        run_server(settings, sockets)
    finally:
        if metrics_folder is not None:
            shutil.rmtree(metrics_folder, ignore_errors=True)
    return 0


def _hand_down(flags: dict[str, object]) -> None:
    """Workers are separate processes that read their settings from the environment
    (and the same config file), so the flags go down that way; they still win."""
    for name, value in flags.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        os.environ[f"{ENV_PREFIX}{name.upper()}"] = text


def _multiprocess_metrics() -> str:
    """Workers write their metrics to files that /metrics sums (prometheus_client).

    The folder is a private temporary one, removed when the server stops: kept in
    the data directory it was left behind on every start.
    """
    folder = tempfile.mkdtemp(prefix="keyturn-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    return folder


async def _prepare(settings: Settings) -> None:
    """Migrate and create the first keys once, before any worker starts."""
    # A listen_database is tried here too, so a wrong one fails in one line at start.
    store = await open_store(
        settings.database_url,
        pool_size=2,
        listen=settings.listen_database is not None,
        listen_url=settings.listen_database,
    )
    try:
        await store.migrate()
        await open_context(settings, store=store, create=True)
    finally:
        await store.close()
