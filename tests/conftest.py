"""Shared test set-up. Fixture plugins live in tests/fixtures/."""

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.supabase"]
