"""A serving worker freezes what its start-up made, so full collections stay short."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keyturn.config import Secret, Settings
from keyturn.http.app import KeyturnApp, create_app
from tests.support import SECRET_KEY


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test run collects as usual


async def frozen_when_started(app: KeyturnApp) -> int:
    """Objects in the permanent generation when the app said it had started."""
    messages: list[dict[str, Any]] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []
    frozen: list[int] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            frozen.append(gc.get_freeze_count())

    await app({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    return frozen[0]


async def test_a_serving_worker_freezes_its_start_up_objects(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), secret_key=Secret(SECRET_KEY))
    # Tens of thousands: the modules, routes and models a worker keeps for its life.
    assert await frozen_when_started(KeyturnApp(settings, freeze_after_start=True)) > 10_000


async def test_an_embedded_app_leaves_the_collector_alone(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), secret_key=Secret(SECRET_KEY))
    assert await frozen_when_started(KeyturnApp(settings)) == 0


def test_the_factory_uvicorn_calls_builds_a_freezing_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYTURN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KEYTURN_SECRET_KEY", SECRET_KEY)
    assert create_app().freeze_after_start
