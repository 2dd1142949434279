"""Helpers shared by the remover tests."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

API_KEY = "sk-test-7f3a9c"


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def png_bytes(mode: str = "L", size: tuple[int, int] = (6, 4), colour: Any = 255) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 200, 200)).save(out, format="JPEG")
    return out.getvalue()
