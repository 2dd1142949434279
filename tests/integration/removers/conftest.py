"""Fixtures for the remover tests: a fake clock whose sleep takes no wall time."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from daemon.adapters.api4ai import Api4aiRemover
from tests.integration.removers.support import API_KEY, FakeTime


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_remover(fake_time: FakeTime) -> Callable[..., Api4aiRemover]:
    """An Api4aiRemover on the fake clock, with a seeded jitter; keyword arguments override."""

    def make(**overrides: Any) -> Api4aiRemover:
        kwargs: dict[str, Any] = {
            "api_key": API_KEY,
            "url": "https://api4ai.test/img-bg-removal/v1/cars/results",
            "sleep": fake_time.sleep,
            "clock": fake_time.clock,
            "rng": random.Random(5),
        }
        kwargs.update(overrides)
        return Api4aiRemover(**kwargs)

    return make
