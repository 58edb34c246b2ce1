"""The batcher that coalesces concurrent one-row statements (store/batching.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from keyturn.store.batching import Batcher


class Recorder:
    """A fake statement: records each batch and answers key -> key * 10 after a pause."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.running = 0
        self.most_running = 0
        self.fail_on = fail_on

    async def run(self, items: Sequence[int]) -> dict[int, int]:
        self.batches.append(list(items))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(0.01)
        finally:
            self.running -= 1
        if self.fail_on is not None and self.fail_on in items:
            raise RuntimeError(f"statement failed on {self.fail_on}")
        return {item: item * 10 for item in items if item >= 0}


async def test_a_lone_request_is_sent_at_once_and_alone() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.run, lambda item: item)
    assert await batcher.submit(7) == 70
    assert recorder.batches == [[7]]


async def test_concurrent_requests_share_statements_within_the_in_flight_limit() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.run, lambda item: item, max_in_flight=2, max_batch=50)
    results = await asyncio.gather(*(batcher.submit(n) for n in range(100)))
    assert results == [n * 10 for n in range(100)]
    assert sorted(n for batch in recorder.batches for n in batch) == list(range(100))
    assert recorder.most_running <= 2
    # 100 requests in at most a handful of statements, none larger than max_batch.
    assert len(recorder.batches) <= 4
    assert max(len(batch) for batch in recorder.batches) <= 50


async def test_a_missing_result_is_none() -> None:
    batcher = Batcher(Recorder().run, lambda item: item)
    assert list(await asyncio.gather(batcher.submit(-1), batcher.submit(2))) == [None, 20]


async def test_a_repeated_key_waits_for_a_later_batch_in_order() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.run, lambda item: item % 100, max_in_flight=1)
    # 5 and 105 share a key: they must never be in one statement, and 5 goes first.
    await asyncio.gather(*(batcher.submit(n) for n in (1, 5, 105, 2, 205)))
    for batch in recorder.batches:
        keys = [n % 100 for n in batch]
        assert len(keys) == len(set(keys)), batch
    order = [n for batch in recorder.batches for n in batch]
    assert order.index(5) < order.index(105) < order.index(205)


async def test_a_failed_statement_fails_its_own_requests_only() -> None:
    recorder = Recorder(fail_on=3)
    batcher = Batcher(recorder.run, lambda item: item, max_in_flight=1)
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0)  # 1 is sent alone; 2 and 3 queue behind it
    rest = [asyncio.ensure_future(batcher.submit(n)) for n in (2, 3)]
    assert await first == 10
    for task in rest:
        with pytest.raises(RuntimeError, match="failed on 3"):
            await task
    assert await batcher.submit(4) == 40  # the batcher carries on


async def test_close_cancels_waiters() -> None:
    batcher = Batcher(Recorder().run, lambda item: item, max_in_flight=1)
    waiting = [asyncio.ensure_future(batcher.submit(n)) for n in range(3)]
    await asyncio.sleep(0)
    await batcher.close()
    for task in waiting:
        with pytest.raises(asyncio.CancelledError):
            await task
