"""The BackgroundRemover port behaves the same for every remover: a plan only when there is
something to remove, and an answer that is a PNG of the kind it says (mask or cutout)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from daemon.domain.options import ProcessingOptions
from daemon.pipeline.removal import BackgroundRemover, NoRemover, Upload, png_removal_kind
from tests.acceptance.daemon.harness import studio_jpeg

pytestmark = pytest.mark.anyio

REMOVERS = ["none", "memory", "api4ai"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def api4ai_double() -> Iterator[object]:
    from tests.doubles.api4ai import Api4aiDouble

    with Api4aiDouble(api_key="conformance-key") as double:
        yield double


@pytest.fixture(params=REMOVERS)
async def remover(request: pytest.FixtureRequest) -> AsyncIterator[BackgroundRemover]:
    found: BackgroundRemover
    if request.param == "none":
        found = NoRemover()
    elif request.param == "memory":
        from daemon.adapters.memory import MemoryRemover

        found = MemoryRemover()
    else:
        from daemon.adapters.api4ai import Api4aiRemover

        double = request.getfixturevalue("api4ai_double")
        found = Api4aiRemover(api_key="conformance-key", url=double.url)  # type: ignore[attr-defined]
    yield found
    await found.aclose()


async def test_no_plan_without_background_removal(remover: BackgroundRemover) -> None:
    assert remover.plan(ProcessingOptions.model_validate({"remove_background": False})) is None


async def test_the_answer_is_a_png_of_the_kind_it_says(remover: BackgroundRemover) -> None:
    plan = remover.plan(ProcessingOptions.model_validate({}))
    if plan is None:
        assert remover.provider == "none"
        return
    assert plan.provider == remover.provider
    removal = await remover.remove(Upload(studio_jpeg(), "image/jpeg"), plan)
    assert removal.png.startswith(PNG)
    assert removal.kind == png_removal_kind(removal.png)
    assert (removal.provider, removal.mode) == (plan.provider, plan.mode)
