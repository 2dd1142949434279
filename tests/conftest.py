"""Shared test set-up. Fixture plugins live in tests/fixtures/."""

import importlib.util

pytest_plugins = [
    name for name in ("tests.fixtures.postgres",) if importlib.util.find_spec(name) is not None
]
