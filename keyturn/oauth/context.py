"""What every grant and endpoint of the protocol core works with."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from keyturn.oauth.clock import Clock
from keyturn.oauth.keyring import Keyring, load_keyring
from keyturn.oauth.ratelimit import RateLimiter
from keyturn.oauth.secrets import SecretHasher
from keyturn.oauth.signals import Recorder, SignalPolicies
from keyturn.oauth.tokens import (
    AccessToken,
    RefreshToken,
    UnknownKey,
    read_access_token,
    read_refresh_token,
)
from keyturn.store.base import Store

# An unknown key id triggers a reload at most this often, so a flood of
# forged key ids cannot turn into a flood of queries.
KEY_RELOAD_INTERVAL = 5.0


class Keys:
    """The keyring of this process, reloaded when another instance rotated keys."""

    def __init__(self, store: Store, wrap_key: bytes, clock: Clock, keyring: Keyring) -> None:
        self._store = store
        self._wrap_key = wrap_key
        self._clock = clock
        self.ring = keyring
        self._loaded_at = time.monotonic()

    @classmethod
    async def load(
        cls, store: Store, wrap_key: bytes, clock: Clock, *, create: bool = True
    ) -> Keys:
        ring = await load_keyring(store, wrap_key, clock, create=create)
        return cls(store, wrap_key, clock, ring)

    async def reload(self) -> None:
        self.ring = await load_keyring(self._store, self._wrap_key, self._clock)
        self._loaded_at = time.monotonic()

    async def _reload_for(self, error: UnknownKey) -> None:
        if time.monotonic() - self._loaded_at < KEY_RELOAD_INTERVAL:
            raise error
        await self.reload()

    async def read_refresh(self, token: str) -> RefreshToken:
        try:
            return read_refresh_token(token, self.ring)
        except UnknownKey as error:
            await self._reload_for(error)
            return read_refresh_token(token, self.ring)

    async def read_access(self, token: str) -> AccessToken:
        try:
            return read_access_token(token, self.ring)
        except UnknownKey as error:
            await self._reload_for(error)
            return read_access_token(token, self.ring)


@dataclass(slots=True)
class Context:
    store: Store
    clock: Clock
    keys: Keys
    secrets: SecretHasher
    issuer: str
    limiter: RateLimiter
    refresh_token_rate: int
    signals: SignalPolicies = field(default_factory=SignalPolicies)
    # Seals webhook signing secrets in the database (derived from the master secret).
    webhook_key: bytes = b""
    # Seals users' authenticator-app secrets (derived from the master secret).
    two_step_key: bytes = b""
    recorder: Recorder = field(default_factory=Recorder)


__all__ = ["Context", "Keys"]
