"""Wire settings into a ready protocol Context: store, keys, secrets, limits."""

from __future__ import annotations

from keyturn.config import Settings, master_secret
from keyturn.oauth.clock import Clock, SystemClock
from keyturn.oauth.context import Context, Keys
from keyturn.oauth.ratelimit import RateLimiter
from keyturn.oauth.secrets import SecretHasher, derive_key
from keyturn.store.base import Store
from keyturn.store.factory import open_store

WRAP_PURPOSE = "keyturn key wrap v1"
CLIENT_SECRET_PURPOSE = "keyturn client secret hash v1"
CSRF_PURPOSE = "keyturn csrf v1"


async def open_admin_store(settings: Settings) -> Store:
    """A store for one-shot commands: migrated, no listener."""
    store = await open_store(settings.database_url, pool_size=2, listen=False)
    await store.migrate()
    return store


async def open_context(
    settings: Settings, *, clock: Clock | None = None, store: Store | None = None
) -> Context:
    clock = clock or SystemClock()
    if store is None:
        store = await open_store(settings.database_url, pool_size=settings.pool_size)
        await store.migrate()
    secret = master_secret(settings)
    return Context(
        store=store,
        clock=clock,
        keys=await Keys.load(store, derive_key(secret, WRAP_PURPOSE), clock),
        secrets=SecretHasher(derive_key(secret, CLIENT_SECRET_PURPOSE)),
        issuer=settings.issuer_url,
        limiter=RateLimiter.from_url(settings.redis, clock),
        refresh_token_rate=settings.refresh_token_rate,
    )
