"""Fixtures for the SQL contract tests: a connection to the module's migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row


@pytest.fixture
def db(pg_dsn: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """An autocommit connection as the database owner, with the jobs and presets emptied first."""
    with psycopg.connect(pg_dsn, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("truncate public.processing_jobs, public.processing_presets")
        yield conn
