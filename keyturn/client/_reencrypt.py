"""Key rotation's last step: re-seal every stored record under the newest key."""

from __future__ import annotations

from collections.abc import Sequence

from keyturn.client._policies import LockPolicy
from keyturn.client._sealing import Sealer
from keyturn.client.stores import TokenStore, open_token_store
from keyturn.client.stores._base import locked


async def reseal_all(store: TokenStore, sealer: Sealer, lock: LockPolicy) -> int:
    """Re-seal, under each account's lease, every record not sealed with the newest key."""
    changed = 0
    for account in await store.accounts():
        async with locked(store, account, timeout=lock.timeout, lease=lock.lease):
            blob = await store.load(account)
            if blob is None or sealer.is_current(blob):
                continue
            await store.save(account, sealer.seal(account, sealer.open(account, blob)))
            changed += 1
    return changed


async def reencrypt_store(
    store: str | TokenStore,
    encryption_keys: Sequence[str],
    *,
    lock: LockPolicy | None = None,
) -> int:
    """Re-seal every record of a token store under the newest key; returns how many changed.

    `store` is a store URL (opened and closed here) or an open `TokenStore`;
    `encryption_keys` lists the newest key first, then every key a record may
    still be sealed with. No server is contacted. A record that opens with none
    of the keys raises StoreDecryptionError.
    """
    sealer = Sealer(list(encryption_keys))
    policy = lock or LockPolicy()
    if not isinstance(store, str):
        return await reseal_all(store, sealer, policy)
    opened = await open_token_store(store)
    try:
        return await reseal_all(opened, sealer, policy)
    finally:
        await opened.close()
