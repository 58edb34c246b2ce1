"""Redis token store: records as values, the lease as a key with an expiry."""

from __future__ import annotations

from redis import asyncio as aioredis

PREFIX = "keyturn:client:"
# Release only our own lease: compare and delete in one step.
_UNLOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisTokenStore:
    def __init__(self, url: str) -> None:
        self._redis = aioredis.from_url(url)
        self._unlock = self._redis.register_script(_UNLOCK)

    async def load(self, account: str) -> bytes | None:
        value = await self._redis.get(PREFIX + "record:" + account)
        if value is None:
            return None
        return value if isinstance(value, bytes) else value.encode("latin-1")

    async def save(self, account: str, blob: bytes) -> None:
        await self._redis.set(PREFIX + "record:" + account, blob)

    async def delete(self, account: str) -> None:
        await self._redis.delete(PREFIX + "record:" + account)

    async def accounts(self) -> list[str]:
        found = [key async for key in self._redis.scan_iter(match=PREFIX + "record:*")]
        return sorted(key.decode().removeprefix(PREFIX + "record:") for key in found)

    async def try_lock(self, account: str, owner: str, lease: float) -> bool:
        taken = await self._redis.set(
            PREFIX + "lock:" + account, owner, nx=True, px=int(lease * 1000)
        )
        return bool(taken)

    async def unlock(self, account: str, owner: str) -> None:
        await self._unlock(keys=[PREFIX + "lock:" + account], args=[owner])

    async def close(self) -> None:
        await self._redis.aclose()
