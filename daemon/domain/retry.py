"""One retry policy for every backoff loop: exponential, capped, jittered.

Each loop states its own limits where it is used (`Backoff(initial=..., maximum=...)`) and keeps
its own loop, because the five loops differ in what ends them: API4.ai gives up when the job's
budget is spent and honours Retry-After; the final write gives up when the lease is surely gone;
the claim loop, the LISTEN reconnect and the Realtime rebuild never give up, and start over from
the first wait after a success. What they share, the waits, is here once.

A retry library (tenacity, stamina) was weighed and not taken: it fits the two call retries, but
the three supervisor loops (an async generator that yields between reconnects, a loop whose sleep
a stop event cuts short) would still need their own backoff, so a library would make two retry
policies instead of one. This module is smaller than either library's set-up at the five sites.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

_rng = random.Random()


@dataclass(frozen=True)
class Backoff:
    """Waits of initial * factor**(n-1), capped at maximum, with a random share `jitter`:
    1.0 is full jitter (anywhere in [0, wait]), 0.5 keeps at least half, 0 none."""

    initial: float
    maximum: float
    factor: float = 2.0
    jitter: float = 1.0

    def ceiling(self, attempt: int) -> float:
        """The wait before retry `attempt` (1 for the first retry), before jitter."""
        return min(self.maximum, self.initial * self.factor ** (max(attempt, 1) - 1))

    def wait(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait before retry `attempt`, jittered."""
        return self.ceiling(attempt) * (1.0 - self.jitter * (rng or _rng).random())


@dataclass
class Retries:
    """The retry count of one loop over a Backoff: the next wait, and a fresh start."""

    policy: Backoff
    rng: random.Random | None = None
    attempt: int = field(default=0, init=False)

    def next_wait(self) -> float:
        """Count one more failure; the wait before trying again."""
        self.attempt += 1
        return self.policy.wait(self.attempt, self.rng)

    def reset(self) -> None:
        """A success: the next failure waits the first wait again."""
        self.attempt = 0
