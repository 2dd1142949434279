"""Fixtures for the Supabase adapters: a SupabaseDouble on a fresh database per module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from daemon.adapters.supabase import (
    RPC_TIMEOUT,
    STORAGE_TIMEOUT,
    SupabaseQueue,
    SupabaseStore,
    make_client,
)
from tests.doubles.supabase import SupabaseDouble


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def queue(sb: SupabaseDouble) -> AsyncIterator[SupabaseQueue]:
    q = SupabaseQueue(make_client(sb.url, sb.service_key, RPC_TIMEOUT))
    yield q
    await q.aclose()


@pytest.fixture
async def store(sb: SupabaseDouble) -> AsyncIterator[SupabaseStore]:
    s = SupabaseStore(make_client(sb.url, sb.service_key, STORAGE_TIMEOUT), sb.url)
    yield s
    await s.aclose()


class Admin:
    """What the admin UI does through supabase-js: PostgREST calls with the user's token."""

    def __init__(self, sb: SupabaseDouble) -> None:
        self.sb = sb
        self.http = httpx.AsyncClient(
            base_url=f"{sb.url}/rest/v1",
            headers={"apikey": sb.anon_key, "Authorization": f"Bearer {sb.admin_token}"},
            timeout=10,
        )

    async def insert(self, **row: Any) -> dict[str, Any]:
        row.setdefault("source_path", "lot/car.jpg")
        response = await self.http.post(
            "/processing_jobs", json=row, headers={"Prefer": "return=representation"}
        )
        assert response.status_code == 201, response.text
        return dict(response.json()[0])

    async def update(self, job_id: str, **values: Any) -> dict[str, Any]:
        response = await self.http.patch(
            "/processing_jobs",
            params={"id": f"eq.{job_id}"},
            json=values,
            headers={"Prefer": "return=representation"},
        )
        assert response.status_code == 200, response.text
        return dict(response.json()[0])

    async def get(self, job_id: str) -> dict[str, Any]:
        response = await self.http.get("/processing_jobs", params={"id": f"eq.{job_id}"})
        assert response.status_code == 200, response.text
        return dict(response.json()[0])


@pytest.fixture
async def admin(sb: SupabaseDouble) -> AsyncIterator[Admin]:
    a = Admin(sb)
    yield a
    await a.http.aclose()
