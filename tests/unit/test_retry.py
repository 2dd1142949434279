"""The one retry policy: exponential waits, capped, with the jitter each loop asks for."""

from __future__ import annotations

import random

from daemon.domain.retry import Backoff, Retries


def test_waits_double_and_stop_at_the_cap() -> None:
    policy = Backoff(initial=0.5, maximum=30.0, jitter=0.0)
    assert [policy.wait(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert policy.ceiling(0) == 0.5  # attempt numbers start at 1; 0 is the first wait too


def test_jitter_draws_within_its_share_of_each_wait() -> None:
    rng = random.Random(7)
    full = Backoff(initial=1.0, maximum=30.0, jitter=1.0)
    half = Backoff(initial=1.0, maximum=30.0, jitter=0.5)
    for attempt in range(1, 10):
        ceiling = full.ceiling(attempt)
        draws = [full.wait(attempt, rng) for _ in range(200)]
        assert all(0.0 < d <= ceiling for d in draws)
        assert min(draws) < ceiling * 0.2 and max(draws) > ceiling * 0.8  # really spread
        assert all(ceiling / 2 <= half.wait(attempt, rng) <= ceiling for _ in range(200))


def test_retries_count_failures_and_start_over_after_a_success() -> None:
    retries = Retries(Backoff(initial=0.2, maximum=5.0, jitter=0.0))
    assert [retries.next_wait() for _ in range(7)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    retries.reset()
    assert retries.next_wait() == 0.2
