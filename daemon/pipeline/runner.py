"""Runs the step list: what every step shares (its stage, progress, timing, the ownership check).

`run_steps` runs pure steps in order on the calling thread. Between two steps it asks the hooks
whether the job is still ours (a cancelled or rescued claim stops at the next step rather than
rendering for nobody) and tells them the step's stage and progress. The async glue in
`daemon.lifecycle.processing` runs the I/O steps itself and hands each stretch of pure steps to one
worker-thread trip.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from daemon.domain.options import ProcessingOptions
from daemon.pipeline.assets import Assets
from daemon.pipeline.guard import Limits
from daemon.pipeline.removal import Removal
from daemon.pipeline.report import Report
from daemon.pipeline.steps import PIPELINE, EncodedVariant, Step, Work


class Abandoned(Exception):
    """The job stopped being ours between two steps; nothing more is done for it."""


class Hooks(Protocol):
    """What the runner tells, and asks, the one who runs the job."""

    def on_step(self, step: Step) -> None:
        """A step starts: its stage and progress (may be called from a worker thread)."""
        ...

    def still_ours(self) -> bool:
        """False once the claim is over (cancelled, requeued, rescued, shutting down)."""
        ...


class NoHooks:
    """For callers with nobody to tell: `process_image`, tests, benchmarks."""

    def on_step(self, step: Step) -> None:
        return None

    def still_ours(self) -> bool:
        return True


def enter(step: Step, work: Work, hooks: Hooks) -> bool:
    """Whether to run `step` now; raises Abandoned when the job is no longer ours."""
    if not step.when(work):
        return False
    if not hooks.still_ours():
        raise Abandoned(step.name)
    hooks.on_step(step)
    return True


def run_steps(work: Work, steps: Iterable[Step], hooks: Hooks) -> None:
    """Run pure steps in order, timing each under its name."""
    for step in steps:
        if step.run is None:
            raise RuntimeError(f"{step.name} is an I/O step: the caller performs it")
        if not enter(step, work, hooks):
            continue
        started = time.perf_counter()
        step.run(work)
        work.timings[step.name] = work.timings.get(step.name, 0) + _ms(started)


@dataclass(frozen=True)
class Rendered:
    """The pipeline's answer: the encoded variants (in option order) and the report."""

    variants: dict[str, EncodedVariant]
    report: Report

    @property
    def metadata(self) -> dict[str, object]:
        """The report as result metadata (without what only a job knows: hash, worker...)."""
        return self.report.metadata()


def finish(work: Work, processing_time: int, preset: str | None = None) -> Rendered:
    """The variants and the report of a work whose steps have all run."""
    return Rendered(variants=dict(work.variants), report=Report.of(work, processing_time, preset))


def process_image(
    data: bytes,
    options: ProcessingOptions | None = None,
    *,
    limits: Limits | None = None,
    removal: Removal | None = None,
    assets: Assets | None = None,
) -> Rendered:
    """The pure steps end to end on bytes in memory: for tests, the benchmark, simple callers.

    `removal` stands in for the remover's answer; `assets` are the decoded backdrop and logo.
    """
    started = time.perf_counter()
    work = Work(
        options=options if options is not None else ProcessingOptions(),
        limits=limits if limits is not None else Limits(),
        assets=assets if assets is not None else Assets(),
        data=data,
        removal=removal,
    )
    run_steps(work, (s for s in PIPELINE if not s.io), NoHooks())
    return finish(work, _ms(started))


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
