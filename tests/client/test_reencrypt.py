"""reencrypt_store: key rotation's last step, on the store alone (no manager, no server)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyturn.client import (
    AsyncTokenManager,
    LockPolicy,
    LockTimeout,
    StoreDecryptionError,
    TokenManager,
    TokenRecord,
    reencrypt_store,
)
from keyturn.client._sealing import Sealer
from keyturn.client.stores import open_token_store
from tests.client.conftest import KEYS

NEW, OLD = KEYS
OTHER = "some-other-key-entirely-0123456789abc"


def manager(store: str, keys: list[str]) -> AsyncTokenManager:
    # Saving and reading contact no server: the endpoint is never called.
    return AsyncTokenManager(
        token_endpoint="https://idp.example/token",
        client_id="app",
        store=store,
        encryption_keys=keys,
        transport=httpx.MockTransport(lambda request: httpx.Response(599)),
    )


def response(n: int) -> dict[str, Any]:
    return {"access_token": f"kta_{n}", "refresh_token": f"ktr_{n}", "expires_in": 3600}


async def seed(store: str, keys: list[str], accounts: list[str]) -> None:
    tm = manager(store, keys)
    for n, account in enumerate(accounts):
        await tm.save(account, response(n))
    await tm.aclose()


def refuse_http(*args: object, **kwargs: object) -> None:
    raise AssertionError("reencrypt_store built an HTTP client")


async def seal_directly(store: str, keys: list[str], accounts: list[str]) -> None:
    """Seal records straight into the store, as an older key's manager left them."""
    sealer = Sealer(keys)
    opened = await open_token_store(store)
    for n, account in enumerate(accounts):
        record = TokenRecord.from_response(response(n), now=0.0)
        await opened.save(account, sealer.seal(account, record.to_bytes()))
    await opened.close()


async def test_reencrypt_store_reseals_only_what_the_old_key_sealed(store_url: str) -> None:
    if store_url == "memory":
        pytest.skip("a memory store URL opens a new, empty store")
    await seed(store_url, [OLD], ["a", "b", "c"])
    await seed(store_url, [NEW], ["d"])  # already under the newest key
    with pytest.MonkeyPatch.context() as patch:
        # No manager, no endpoint: not even an HTTP client is built.
        patch.setattr(httpx.AsyncClient, "__init__", refuse_http)
        assert await reencrypt_store(store_url, KEYS) == 3
        assert await reencrypt_store(store_url, KEYS) == 0
    new_only = manager(store_url, [NEW])
    for n, account in enumerate(["a", "b", "c"]):
        assert await new_only.access_token(account) == f"kta_{n}"
    assert await new_only.access_token("d") == "kta_0"
    await new_only.aclose()
    old_only = manager(store_url, [OLD])
    with pytest.raises(StoreDecryptionError):
        await old_only.access_token("a")
    await old_only.aclose()


async def test_a_record_under_an_unknown_key_is_refused(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'tokens.db'}"
    await seal_directly(store, [OTHER], ["stranger"])
    with pytest.raises(StoreDecryptionError):
        await reencrypt_store(store, KEYS)


async def test_reencrypt_store_takes_an_open_store_and_leaves_it_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    await seal_directly(url, [OLD], ["a", "b"])
    store = await open_token_store(url)
    assert await reencrypt_store(store, KEYS) == 2
    assert await store.accounts() == ["a", "b"]  # still open
    await store.close()


async def test_reencrypt_store_waits_for_the_accounts_lease(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    await seal_directly(url, [OLD], ["a"])
    store = await open_token_store(url)
    assert await store.try_lock("a", "a-refreshing-process", 30.0)
    with pytest.raises(LockTimeout):
        await reencrypt_store(store, KEYS, lock=LockPolicy(timeout=0.05))
    await store.unlock("a", "a-refreshing-process")
    assert await reencrypt_store(store, KEYS, lock=LockPolicy(timeout=0.05)) == 1
    await store.close()


async def test_reencrypt_store_needs_valid_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    with pytest.raises(ValueError, match="at least one key"):
        await reencrypt_store(url, [])
    with pytest.raises(ValueError, match="32"):
        await reencrypt_store(url, ["short"])


async def test_the_managers_reencrypt_is_the_same_operation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    await seal_directly(url, [OLD], ["a", "b"])

    def rotate() -> tuple[int, int]:
        with TokenManager(
            token_endpoint="https://idp.example/token",
            client_id="app",
            store=url,
            encryption_keys=KEYS,
        ) as tm:
            return tm.reencrypt(), tm.reencrypt()

    assert await asyncio.to_thread(rotate) == (2, 0)
    assert await reencrypt_store(url, [NEW]) == 0  # every record opens under the newest key
