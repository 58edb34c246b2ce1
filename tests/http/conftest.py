from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support import ServerProcess


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        yield client
