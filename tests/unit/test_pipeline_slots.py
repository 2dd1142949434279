"""PipelineSlots: renders are bounded; a stretch on its way to the remover never waits for them."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable

import anyio
import anyio.abc
import pytest

from daemon.lifecycle.slots import PipelineSlots

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    # The slots expose plain counters, not events: poll them briefly.
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.001)


@contextlib.asynccontextmanager
async def _render_slot_taken(slots: PipelineSlots) -> AsyncIterator[anyio.abc.TaskGroup]:
    """A render holds the one render slot of `slots` until the block ends; the task group it
    runs in is the block's, and is left once everything started in it has ended."""
    gate = threading.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: slots.run(lambda: gate.wait(5), early=False))
        await _until(lambda: slots.busy == 1)
        try:
            yield tg
        finally:
            gate.set()


async def test_an_early_stretch_runs_while_every_render_slot_is_taken() -> None:
    slots = PipelineSlots(1)
    order: list[str] = []

    async with _render_slot_taken(slots) as tg:
        tg.start_soon(lambda: slots.run(lambda: order.append("render"), early=False))
        await anyio.sleep(0.02)
        # The render slot is taken: the second render waits, the early stretch does not.
        with anyio.fail_after(2):
            await slots.run(lambda: order.append("early"), early=True)
        assert order == ["early"]
    assert order == ["early", "render"]
    assert slots.busy == 0


@pytest.mark.parametrize("early", [False, True])
async def test_never_more_stretches_of_a_kind_at_once_than_slots(early: bool) -> None:
    slots = PipelineSlots(2)
    lock = threading.Lock()
    pairs = threading.Barrier(2, timeout=5)  # two at once, surely, however loaded the machine
    running = peak = 0

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        pairs.wait()
        threading.Event().wait(0.01)  # a third, if one could start, would be counted now
        with lock:
            running -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(lambda: slots.run(work, early=early))
    assert peak == 2
    assert slots.busy == 0


async def test_a_cancelled_waiter_takes_no_slot_and_a_failure_frees_its_own() -> None:
    slots = PipelineSlots(1)
    ran: list[str] = []

    async with _render_slot_taken(slots):
        with anyio.move_on_after(0.05):
            await slots.run(lambda: ran.append("cancelled"), early=False)
    assert ran == [] and slots.busy == 0

    def boom() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await slots.run(boom, early=False)
    assert await slots.run(lambda: 7, early=False) == 7
    assert slots.busy == 0
