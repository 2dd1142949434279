"""API4.ai's cars background removal (https://api4.ai/apis/car-bg-removal) as a BackgroundRemover.

One multipart POST per photo (`image` field, `X-API-KEY` header, `?mode=` in the query). The answer
is HTTP 200 with `results[0].status.code` "ok" or "failure", and the PNG (a mask or a cutout)
base64-encoded in `results[0].entities[0].image`.

Transient trouble (408, 409, 429, 5xx, timeouts, broken connections) is retried here with
exponential backoff and full jitter, honouring Retry-After, until the per-job budget is spent; then
the job is handed back to the queue with the delay its next attempt should wait. Everything else is
permanent and fails the job at once with a sentence that says what to do.

The budget gates new attempts: one that starts inside it may run its full timeout, so a call
takes at most about API4AI_RETRY_BUDGET_SECONDS + API4AI_TIMEOUT_SECONDS. The key goes in a
header only and is never logged or put in a message.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from daemon.app import metrics
from daemon.app.settings import API4AI_CARS_URL, SettingsError
from daemon.domain.errors import (
    BackgroundRemovalFailed,
    ImageTooLarge,
    ProcessingError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from daemon.domain.options import ProcessingOptions
from daemon.domain.retry import Backoff
from daemon.pipeline.removal import Removal, RemovalKind, RemovalPlan, Upload

if TYPE_CHECKING:
    from daemon.app.settings import Settings

__all__ = ["API4AI_CARS_URL", "MASK_MODE", "PLATE_MODE", "Api4aiRemover", "parse_retry_after"]

MASK_MODE = "fg-mask"
PLATE_MODE = "fg-image-hideclp"
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A 4096 px RGBA cutout is at most ~64 MiB raw; as a base64 PNG inside JSON it is far less. Anything
# bigger is a provider misbehaving, and reading it would cost the worker its memory.
DEFAULT_MAX_RESPONSE_BYTES = 96 * 1024 * 1024
# Between attempts within a job: full jitter over 1 s, 2 s, 4 s ... capped at 30 s.
BACKOFF = Backoff(initial=1.0, maximum=30.0, jitter=1.0)
# Never ask the queue to wait longer than this, whatever Retry-After says.
MAX_RETRY_AFTER_SECONDS = 900.0
MAX_ATTEMPTS = 8
# Of an error body, only this much is read (for the provider's message).
ERROR_BODY_BYTES = 64 * 1024

Sleep = Callable[[float], Awaitable[None]]


class _Transient(Exception):
    """One attempt failed in a way a later attempt may not."""

    def __init__(self, outcome: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.retry_after = retry_after


class Api4aiRemover:
    """Calls API4.ai's cars endpoint; implements daemon.pipeline.removal.BackgroundRemover."""

    provider = "api4ai"

    def __init__(
        self,
        *,
        api_key: str,
        url: str = API4AI_CARS_URL,
        concurrency: int = 4,
        timeout_seconds: float = 60.0,
        retry_budget_seconds: float = 90.0,
        max_upload_side: int = 4096,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        self._api_key = api_key
        self._url = url
        self._timeout = timeout_seconds
        self._budget = retry_budget_seconds
        self._max_upload_side = max_upload_side
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._max_attempts = max(1, max_attempts)
        self._max_response_bytes = max_response_bytes
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            # Connect fast or not at all; the read may take as long as the provider's model does.
            timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        # Never the key.
        return f"Api4aiRemover(url={self._url!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> Api4aiRemover:
        """A remover configured by API4AI_* settings."""
        if settings.api4ai_api_key is None:
            raise SettingsError("API4AI_API_KEY must be set to use the api4ai background remover.")
        return cls(
            api_key=settings.api4ai_api_key.get_secret_value(),
            url=settings.api4ai_url,
            concurrency=settings.api4ai_concurrency,
            timeout_seconds=settings.api4ai_timeout_seconds,
            retry_budget_seconds=settings.api4ai_retry_budget_seconds,
            max_upload_side=settings.api4ai_max_upload_side,
        )

    def plan(self, options: ProcessingOptions) -> RemovalPlan | None:
        """The mask by default (applied to the original at full size); the plate blur needs an
        image mode, so hide_license_plate asks for the cutout with the plate blurred."""
        if not options.remove_background:
            return None
        mode = PLATE_MODE if options.hide_license_plate else MASK_MODE
        return RemovalPlan(
            provider=self.provider,
            mode=mode,
            max_upload_side=self._max_upload_side,
            repaints=mode == PLATE_MODE,
        )

    async def remove(self, upload: Upload, plan: RemovalPlan) -> Removal:
        """Send the upload and return the provider's PNG; retries transient trouble in budget."""
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._limiter:
                    png = await self._attempt(upload, plan.mode)
            except _Transient as trouble:
                delay = self._next_delay(attempt, trouble.retry_after)
                spent = self._clock() - started
                if attempt >= self._max_attempts or spent + delay > self._budget:
                    raise self._give_up(trouble, attempt) from None
                await self._sleep(delay)
                continue
            kind = _kind_of(plan.mode)
            return Removal(
                kind=kind,
                png=png,
                provider=self.provider,
                mode=plan.mode,
                repainted=plan.repaints,
            )

    async def aclose(self) -> None:
        """Close the connection pool (only when this remover created the client)."""
        if self._owns_client:
            await self._client.aclose()

    # One HTTP call.

    async def _attempt(self, upload: Upload, mode: str) -> bytes:
        try:
            with anyio.fail_after(self._timeout):
                async with self._client.stream(
                    "POST",
                    # httpx's params= would drop a query already in API4AI_URL; merge instead.
                    httpx.URL(self._url).copy_merge_params({"mode": mode}),
                    headers={"X-API-KEY": self._api_key, "Accept": "application/json"},
                    files={"image": (upload.filename, upload.data, upload.content_type)},
                ) as response:
                    status = response.status_code
                    if status != 200:
                        head = await _read_head(response, ERROR_BODY_BYTES)
                        self._fail_on_status(status, response.headers, head)
                    body = await self._read_capped(response, limit=self._max_response_bytes)
        except (TimeoutError, httpx.TimeoutException):
            _count("timeout")
            raise _Transient("timeout", f"no answer within {self._timeout:g} s") from None
        except httpx.TransportError as exc:
            _count("connection_error")
            reason = f"connection failed ({type(exc).__name__})"
            raise _Transient("connection_error", reason) from None
        except httpx.DecodingError:  # a body that its Content-Encoding cannot decode
            _count("bad_response")
            raise _Transient("bad_response", "an answer that could not be decoded") from None
        # Anything else raised above is a bug, and propagates as one (internal_error).
        return self._parse(body)

    async def _read_capped(self, response: httpx.Response, *, limit: int) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            self._oversized(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                self._oversized(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def _oversized(self, limit: int) -> None:
        _count("bad_response")
        size = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit} bytes"
        raise _Transient("bad_response", f"an answer larger than {size}")

    def _fail_on_status(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        detail = self._provider_message(body)
        if status == 429:
            _count("rate_limited")
            raise _Transient("rate_limited", "rate limited (HTTP 429)", parse_retry_after(headers))
        if status in RETRYABLE_STATUSES or status >= 500:
            _count("server_error")
            raise _Transient("server_error", f"HTTP {status}", parse_retry_after(headers))
        _count("client_error")
        if status in (401, 403):
            raise BackgroundRemovalFailed(
                f"API4.ai refused the API key (HTTP {status}); check API4AI_API_KEY and the "
                "subscription, then reprocess the job."
            )
        if status == 413:
            raise ImageTooLarge(
                "API4.ai refused the upload as too large (HTTP 413); lower API4AI_MAX_UPLOAD_SIDE "
                "or upload a smaller photo."
            )
        if status == 404:
            raise BackgroundRemovalFailed(
                "API4.ai answered HTTP 404; check that API4AI_URL is the cars results endpoint."
            )
        suffix = f": {detail}" if detail else ""
        raise BackgroundRemovalFailed(f"API4.ai refused this image (HTTP {status}){suffix}.")

    def _parse(self, body: bytes) -> bytes:
        try:
            document = json.loads(body)
            result = document["results"][0]
            status = result["status"]
            code = status["code"]
        except (ValueError, KeyError, IndexError, TypeError):
            _count("bad_response")
            raise _Transient("bad_response", "an answer that is not the expected JSON") from None
        if code == "failure":
            _count("failure")
            message = _sentence(status.get("message") if isinstance(status, dict) else None)
            raise BackgroundRemovalFailed(
                f"API4.ai could not process this image: {message or 'no reason given'}."
            )
        png = _entity_png(result) if code == "ok" else None
        if png is None:
            _count("bad_response")
            raise _Transient("bad_response", "an answer without a PNG image")
        _count("ok")
        return png

    def _provider_message(self, body: bytes) -> str:
        """A short, key-free description from an error body, or "" (HTML pages say nothing)."""
        try:
            document = json.loads(body)
        except ValueError:
            return ""
        text: Any = None
        if isinstance(document, dict):
            for key in ("message", "error", "detail", "description"):
                if isinstance(document.get(key), str):
                    text = document[key]
                    break
        return _sentence(text).replace(self._api_key, "<redacted>")

    # Retry policy.

    def _next_delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER_SECONDS)
        return BACKOFF.wait(attempt, self._rng)

    def _give_up(self, trouble: _Transient, attempts: int) -> ProcessingError:
        # The provider's Retry-After when it gave one; else our next backoff step without the
        # jitter, so the queue's retry is not sooner than the next attempt here would have been.
        if trouble.retry_after is not None:
            wait = min(trouble.retry_after, MAX_RETRY_AFTER_SECONDS)
        else:
            wait = BACKOFF.ceiling(attempts)
        wait = max(1.0, round(wait, 1))
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        if trouble.outcome == "rate_limited":
            return ProviderRateLimited(
                f"API4.ai is rate limiting this worker ({tries}); the job will be retried in "
                f"{wait:g} s.",
                retry_after=wait,
            )
        return ProviderUnavailable(
            f"API4.ai is unavailable: {trouble.reason} ({tries}); the job will be retried.",
            retry_after=wait,
        )


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Retry-After in seconds from its delta-seconds or HTTP-date form; None when absent or bad."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


async def _read_head(response: httpx.Response, limit: int) -> bytes:
    """The first `limit` bytes of an error body: enough for a message, never a whole page."""
    head = b""
    async for chunk in response.aiter_bytes():
        head += chunk
        if len(head) >= limit:
            break
    return head[:limit]


def _kind_of(mode: str) -> RemovalKind:
    return "mask" if mode.startswith("fg-mask") else "cutout"


def _entity_png(result: Mapping[str, Any]) -> bytes | None:
    entities = result.get("entities")
    if not isinstance(entities, list):
        return None
    for entity in entities:
        if isinstance(entity, dict) and isinstance(entity.get("image"), str):
            try:
                png = base64.b64decode(entity["image"], validate=True)
            except (binascii.Error, ValueError):
                return None
            return png if png.startswith(PNG_SIGNATURE) else None
    return None


def _sentence(text: object, limit: int = 200) -> str:
    """One line, no trailing full stop, at most `limit` characters."""
    if not isinstance(text, str):
        return ""
    line = re.sub(r"\s+", " ", text).strip().rstrip(".")
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _count(outcome: str) -> None:
    metrics.api4ai_calls.labels(outcome=outcome).inc()
