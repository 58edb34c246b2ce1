"""Wire settings into a ready protocol Context: store, keys, secrets, limits."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from keyturn.config import ConfigError, Settings, master_secret
from keyturn.oauth.clock import Clock, SystemClock
from keyturn.oauth.context import Context, Keys
from keyturn.oauth.ratelimit import RateLimiter
from keyturn.oauth.secrets import SecretHasher, derive_key
from keyturn.oauth.signals import SignalPolicies, SignalPolicy
from keyturn.store.base import Store
from keyturn.store.factory import open_store

WRAP_PURPOSE = "keyturn key wrap v1"
CLIENT_SECRET_PURPOSE = "keyturn client secret hash v1"
CSRF_PURPOSE = "keyturn csrf v1"
WEBHOOK_PURPOSE = "keyturn webhook secret v1"
TWO_STEP_PURPOSE = "keyturn two-step secret v1"


def signal_policies(settings: Settings) -> SignalPolicies:
    """The defaults, with each `[signals.<kind>]` of the settings laid over its own."""
    defaults = SignalPolicies()
    chosen = {}
    for kind, setting in settings.signals.items():
        default: SignalPolicy = getattr(defaults, kind)
        chosen[kind] = SignalPolicy(
            action=setting.action or default.action,
            threshold=default.threshold if setting.threshold is None else setting.threshold,
        )
    return dataclasses.replace(defaults, **chosen)


async def open_admin_store(settings: Settings) -> Store:
    """A store for one-shot commands, which create nothing: the database must exist
    and be migrated (by `keyturn serve` or `keyturn migrate`); no listener."""
    if settings.embedded:
        path = Path(settings.database_url.removeprefix("sqlite:///"))
        if not path.exists():
            where = "data_dir" if settings.database is None else "database"
            raise ConfigError(
                f"{where}: no keyturn database at {path}; `keyturn serve` or "
                "`keyturn migrate` creates it (is --data-dir / KEYTURN_DATA_DIR the server's?)"
            )
    store = await open_store(settings.database_url, pool_size=2, listen=False)
    try:
        _, pending = await store.migration_status()
    except BaseException:
        await store.close()
        raise
    if pending:
        await store.close()
        raise ConfigError(
            f"database: not migrated (pending {', '.join(pending)}); run `keyturn migrate`"
        )
    return store


async def open_context(
    settings: Settings,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    create: bool = True,
) -> Context:
    """The protocol context; `create=False` (the operator's commands) refuses to make a
    secret or the first keys, which only `serve` and `migrate` may."""
    clock = clock or SystemClock()
    if store is None:
        store = await open_store(
            settings.database_url,
            pool_size=settings.pool_size,
            listen_url=settings.listen_database,
        )
        await store.migrate()
    secret = master_secret(settings, create=create)
    return Context(
        store=store,
        clock=clock,
        keys=await Keys.load(store, derive_key(secret, WRAP_PURPOSE), clock, create=create),
        secrets=SecretHasher(derive_key(secret, CLIENT_SECRET_PURPOSE)),
        issuer=settings.issuer_url,
        limiter=RateLimiter.from_url(settings.redis, clock),
        refresh_token_rate=settings.refresh_token_rate,
        signals=signal_policies(settings),
        webhook_key=derive_key(secret, WEBHOOK_PURPOSE),
        two_step_key=derive_key(secret, TWO_STEP_PURPOSE),
    )
