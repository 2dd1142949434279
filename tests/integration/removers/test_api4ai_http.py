"""The exact HTTP exchanges of Api4aiRemover with API4.ai, with pytest-httpx standing in for it."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import anyio
import httpx
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

from daemon.adapters.api4ai import Api4aiRemover, parse_retry_after
from daemon.app import metrics
from daemon.domain.errors import (
    BackgroundRemovalFailed,
    ImageTooLarge,
    ProviderRateLimited,
    ProviderUnavailable,
)
from daemon.domain.options import ProcessingOptions
from daemon.pipeline.removal import RemovalPlan, Upload
from tests.doubles.api4ai import parse_multipart
from tests.integration.removers.support import API_KEY, FakeTime, jpeg_bytes, png_bytes

pytestmark = pytest.mark.anyio

URL = "https://api4ai.test/img-bg-removal/v1/cars/results"
URL_RE = re.compile(re.escape(URL) + r"\?mode=.*")
MASK_PLAN = RemovalPlan(provider="api4ai", mode="fg-mask", max_upload_side=4096)
PLATE_PLAN = RemovalPlan(provider="api4ai", mode="fg-image-hideclp", max_upload_side=4096)
MakeRemover = Callable[..., Api4aiRemover]


def ok_body(png: bytes) -> dict[str, Any]:
    return {
        "results": [
            {
                "status": {"code": "ok", "message": "Success."},
                "name": "image.jpg",
                "width": 64,
                "height": 48,
                "entities": [
                    {"kind": "image", "name": "image", "image": base64.b64encode(png).decode()},
                    {"kind": "objects", "name": "objects", "objects": []},
                ],
            }
        ]
    }


def failure_body(message: str) -> dict[str, Any]:
    return {"results": [{"status": {"code": "failure", "message": message}, "entities": []}]}


def jpeg_upload() -> Upload:
    return Upload(jpeg_bytes(), "image/jpeg")


def calls(outcome: str) -> float:
    value = metrics.REGISTRY.get_sample_value("api4ai_calls_total", {"outcome": outcome})
    return value or 0.0


# The plan.


@pytest.mark.parametrize(
    ("options", "mode"),
    [({}, "fg-mask"), ({"hide_license_plate": True}, "fg-image-hideclp")],
)
def test_plan_picks_the_mask_unless_the_plate_must_be_blurred(
    make_remover: MakeRemover, options: dict[str, Any], mode: str
) -> None:
    plan = make_remover(max_upload_side=3000).plan(ProcessingOptions.model_validate(options))
    # Only the plate mode paints on the photo: its colours must be kept.
    repaints = mode == "fg-image-hideclp"
    assert plan == RemovalPlan(
        provider="api4ai", mode=mode, max_upload_side=3000, repaints=repaints
    )


def test_plan_is_none_without_background_removal(make_remover: MakeRemover) -> None:
    options = ProcessingOptions.model_validate({"remove_background": False})
    assert make_remover().plan(options) is None


# The request and a good answer.


async def test_sends_the_photo_as_multipart_image_with_key_and_mode(
    httpx_mock: HTTPXMock, make_remover: MakeRemover
) -> None:
    mask = png_bytes("L")
    httpx_mock.add_response(url=f"{URL}?mode=fg-mask", method="POST", json=ok_body(mask))
    upload = jpeg_upload()
    before = calls("ok")

    removal = await make_remover().remove(upload, MASK_PLAN)

    assert (removal.kind, removal.png, removal.provider, removal.mode) == (
        "mask",
        mask,
        "api4ai",
        "fg-mask",
    )
    request = httpx_mock.get_request()
    assert request is not None
    assert request.headers["X-API-KEY"] == API_KEY
    assert request.url.params["mode"] == "fg-mask"
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    assert parse_multipart(content_type, request.content) == {"image": upload.data}
    assert b'name="image"; filename="image.jpg"' in request.content
    assert b"Content-Type: image/jpeg" in request.content
    assert calls("ok") == before + 1


async def test_plate_mode_returns_the_cutout(
    httpx_mock: HTTPXMock, make_remover: MakeRemover
) -> None:
    cutout = png_bytes("RGBA", colour=(10, 20, 30, 255))
    httpx_mock.add_response(url=f"{URL}?mode=fg-image-hideclp", json=ok_body(cutout))
    removal = await make_remover().remove(Upload(png_bytes("RGB"), "image/png"), PLATE_PLAN)
    assert (removal.kind, removal.png, removal.mode) == ("cutout", cutout, "fg-image-hideclp")
    request = httpx_mock.get_request()
    assert request is not None
    assert b'filename="image.png"' in request.content


async def test_keeps_other_query_parameters_of_the_url(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=ok_body(png_bytes()))
    remover = Api4aiRemover(api_key=API_KEY, url=URL + "?representation=base64")
    await remover.remove(jpeg_upload(), MASK_PLAN)
    await remover.aclose()
    request = httpx_mock.get_request()
    assert request is not None
    assert dict(request.url.params) == {"representation": "base64", "mode": "fg-mask"}


# The provider refusing the image.


async def test_status_failure_is_permanent_with_the_providers_message(
    httpx_mock: HTTPXMock, make_remover: MakeRemover, fake_time: FakeTime
) -> None:
    httpx_mock.add_response(json=failure_body("Failed to detect a car\n in the image."))
    before = calls("failure")
    with pytest.raises(BackgroundRemovalFailed) as caught:
        await make_remover().remove(jpeg_upload(), MASK_PLAN)
    assert caught.value.code == "background_removal_failed"
    assert not caught.value.retryable
    assert caught.value.message == (
        "API4.ai could not process this image: Failed to detect a car in the image."
    )
    assert len(httpx_mock.get_requests()) == 1
    assert fake_time.sleeps == []
    assert calls("failure") == before + 1


async def test_status_failure_without_a_message(
    httpx_mock: HTTPXMock, make_remover: MakeRemover
) -> None:
    httpx_mock.add_response(json={"results": [{"status": {"code": "failure"}}]})
    with pytest.raises(BackgroundRemovalFailed, match="no reason given"):
        await make_remover().remove(jpeg_upload(), MASK_PLAN)


# Retries.


@pytest.mark.parametrize("status", [408, 409, 500, 502, 503, 504])
async def test_retries_transient_statuses_then_succeeds(
    httpx_mock: HTTPXMock, make_remover: MakeRemover, fake_time: FakeTime, status: int
) -> None:
    httpx_mock.add_response(status_code=status, text="<html><body>Bad Gateway</body></html>")
    httpx_mock.add_response(status_code=status, json={"error": "busy"})
    httpx_mock.add_response(json=ok_body(png_bytes()))

    removal = await make_remover().remove(jpeg_upload(), MASK_PLAN)

    assert removal.kind == "mask"
    assert len(httpx_mock.get_requests()) == 3
    # Full jitter: the n-th wait is somewhere in [0, 2**(n-1)] seconds.
    assert len(fake_time.sleeps) == 2
    assert 0 <= fake_time.sleeps[0] <= 1
    assert 0 <= fake_time.sleeps[1] <= 2


async def test_retries_timeouts_and_connection_errors(
    httpx_mock: HTTPXMock, make_remover: MakeRemover
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("read timed out"))
    httpx_mock.add_exception(httpx.ConnectError("connection refused"))
    httpx_mock.add_exception(httpx.RemoteProtocolError("server disconnected"))
    httpx_mock.add_response(json=ok_body(png_bytes()))
    before = (calls("timeout"), calls("connection_error"))

    removal = await make_remover().remove(jpeg_upload(), MASK_PLAN)

    assert removal.png == png_bytes()
    assert len(httpx_mock.get_requests()) == 4
    assert (calls("timeout"), calls("connection_error")) == (before[0] + 1, before[1] + 2)


async def test_an_undecodable_body_is_transient_but_a_bug_is_not_an_outage(
    httpx_mock: HTTPXMock, make_remover: MakeRemover
) -> None:
    httpx_mock.add_exception(httpx.DecodingError("incorrect header check"))
    httpx_mock.add_response(json=ok_body(png_bytes()))
    removal = await make_remover().remove(jpeg_upload(), MASK_PLAN)
    assert removal.png == png_bytes()

    # A TypeError inside the call is a bug: it escapes as itself (the job's internal_error),
    # never retried, never provider_unavailable.
    httpx_mock.add_exception(TypeError("unsupported operand"))
    remover = make_remover()
    with pytest.raises(TypeError, match="unsupported operand"):
        await remover.remove(jpeg_upload(), MASK_PLAN)
    assert len(httpx_mock.get_requests()) == 3


async def test_honours_retry_after_in_seconds(
    httpx_mock: HTTPXMock, make_remover: MakeRemover, fake_time: FakeTime
) -> None:
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "7"})
    httpx_mock.add_response(json=ok_body(png_bytes()))
    before = calls("rate_limited")
    await make_remover().remove(jpeg_upload(), MASK_PLAN)
    assert fake_time.sleeps == [7.0]
    assert calls("rate_limited") == before + 1


async def test_honours_retry_after_as_an_http_date(
    httpx_mock: HTTPXMock, make_remover: MakeRemover, fake_time: FakeTime
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    httpx_mock.add_response(status_code=503, headers={"Retry-After": format_datetime(when, True)})
    httpx_mock.add_response(json=ok_body(png_bytes()))
    await make_remover().remove(jpeg_upload(), MASK_PLAN)
    assert len(fake_time.sleeps) == 1
    assert 27 <= fake_time.sleeps[0] <= 30


async def test_rate_limited_past_the_budget_hands_the_wait_to_the_queue(
    httpx_mock: HTTPXMock, make_remover: MakeRemover, fake_time: FakeTime
) -> None:
    for _ in range(3):
        httpx_mock.add_response(status_code=429, headers={"Retry-After": "4"})

    with pytest.raises(ProviderRateLimited) as caught:
        await make_remover(retry_budget_seconds=10).remove(jpeg_upload(), MASK_PLAN)

    # 429, wait 4, 429, wait 4, 429: a third wait would pass the 10 s budget.
    assert fake_time.sleeps == [4.0, 4.0]
    assert len(httpx_mock.get_requests()) == 3
    assert caught.value.code == "provider_rate_limited"
    assert caught.value.retryable
    assert caught.value.retry_after == 4.0
    assert "3 attempts" in caught.value.message


async def test_a_retry_after_longer_than_the_budget_gives_up_at_once(
    httpx_mock: HTTPXMock, make_remover: MakeRemover, fake_time: FakeTime
) -> None:
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "120"})
    with pytest.raises(ProviderRateLimited) as caught:
        await make_remover().remove(jpeg_upload(), MASK_PLAN)
    assert caught.value.retry_after == 120.0
    assert fake_time.sleeps == []


async def test_server_errors_past_the_budget_are_provider_unavailable(
    httpx_mock: HTTPXMock, make_remover: MakeRemover, fake_time: FakeTime
) -> None:
    httpx_mock.add_response(status_code=500, is_reusable=True)
    with pytest.raises(ProviderUnavailable) as caught:
        await make_remover(retry_budget_seconds=5).remove(jpeg_upload(), MASK_PLAN)
    assert caught.value.code == "provider_unavailable"
    assert caught.value.retryable
    assert "HTTP 500" in caught.value.message
    assert sum(fake_time.sleeps) <= 5
    attempts = len(httpx_mock.get_requests())
    assert attempts == len(fake_time.sleeps) + 1 >= 2
    assert f"({attempts} attempts)" in caught.value.message
    # No Retry-After: the queue waits our next backoff step, without jitter.
    assert caught.value.retry_after == max(1.0, min(30.0, 2.0 ** (attempts - 1)))


async def test_attempts_are_capped_even_when_waits_are_short(
    httpx_mock: HTTPXMock, make_remover: MakeRemover
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), is_reusable=True)
    with pytest.raises(ProviderUnavailable, match="connection failed"):
        remover = make_remover(max_attempts=3, retry_budget_seconds=1e6)
        await remover.remove(jpeg_upload(), MASK_PLAN)
    assert len(httpx_mock.get_requests()) == 3


async def test_no_budget_means_one_attempt(
    httpx_mock: HTTPXMock, make_remover: MakeRemover
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderUnavailable, match="no answer within 60 s"):
        await make_remover(retry_budget_seconds=0).remove(jpeg_upload(), MASK_PLAN)
    assert len(httpx_mock.get_requests()) == 1


# Answers that are not what the API promises.


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Service Unavailable</html>",
        b'{"results": [{"status": ',
        b"[]",
        b'{"results": []}',
        b'{"results": [{"entities": []}]}',
        b'{"results": [{"status": {"code": "ok"}}]}',
        b'{"results": [{"status": {"code": "ok"}, "entities": [{"image": "***"}]}]}',
        json.dumps(ok_body(b"GIF89a not a png")).encode(),
        b'{"results": [{"status": {"code": "pending"}, "entities": []}]}',
    ],
)
async def test_malformed_answers_are_transient(
    httpx_mock: HTTPXMock, make_remover: MakeRemover, body: bytes
) -> None:
    httpx_mock.add_response(content=body, headers={"Content-Type": "application/json"})
    before = calls("bad_response")
    with pytest.raises(ProviderUnavailable) as caught:
        await make_remover(max_attempts=1).remove(jpeg_upload(), MASK_PLAN)
    assert caught.value.retryable
    assert caught.value.message.startswith("API4.ai is unavailable: an answer ")
    assert calls("bad_response") == before + 1


async def test_a_malformed_answer_is_retried_within_the_budget(
    httpx_mock: HTTPXMock, make_remover: MakeRemover
) -> None:
    httpx_mock.add_response(content=b"{not json")
    httpx_mock.add_response(json=ok_body(png_bytes()))
    assert (await make_remover().remove(jpeg_upload(), MASK_PLAN)).png == png_bytes()


async def test_an_oversized_answer_is_not_read(
    httpx_mock: HTTPXMock, make_remover: MakeRemover
) -> None:
    httpx_mock.add_response(content=b"x" * 5000)
    with pytest.raises(ProviderUnavailable, match="an answer larger than 4096 bytes"):
        await make_remover(max_attempts=1, max_response_bytes=4096).remove(jpeg_upload(), MASK_PLAN)


async def test_a_huge_error_page_still_counts_as_the_server_error_it_is(
    httpx_mock: HTTPXMock, make_remover: MakeRemover
) -> None:
    page = b"<html>" + b"x" * 200_000 + b"</html>"
    httpx_mock.add_response(
        status_code=502, stream=IteratorStream([page[:100_000], page[100_000:]])
    )
    before = calls("server_error")
    with pytest.raises(ProviderUnavailable, match="HTTP 502"):
        await make_remover(max_attempts=1).remove(jpeg_upload(), MASK_PLAN)
    assert calls("server_error") == before + 1


async def test_an_oversized_answer_without_a_length_is_cut_off(
    httpx_mock: HTTPXMock, make_remover: MakeRemover
) -> None:
    # Chunked, no Content-Length: the cap must hold while streaming.
    chunks = [b"y" * 1024 for _ in range(8)]
    httpx_mock.add_response(stream=IteratorStream(chunks))
    with pytest.raises(ProviderUnavailable, match="larger than"):
        await make_remover(max_attempts=1, max_response_bytes=4096).remove(jpeg_upload(), MASK_PLAN)


# Permanent refusals.


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_key_is_permanent_and_never_echoed(
    httpx_mock: HTTPXMock, make_remover: MakeRemover, fake_time: FakeTime, status: int
) -> None:
    httpx_mock.add_response(status_code=status, json={"error": f"Invalid key {API_KEY}"})
    with pytest.raises(BackgroundRemovalFailed) as caught:
        await make_remover().remove(jpeg_upload(), MASK_PLAN)
    assert caught.value.message == (
        f"API4.ai refused the API key (HTTP {status}); check API4AI_API_KEY and the "
        "subscription, then reprocess the job."
    )
    assert API_KEY not in str(caught.value)
    assert len(httpx_mock.get_requests()) == 1
    assert fake_time.sleeps == []


async def test_too_large_is_image_too_large(
    httpx_mock: HTTPXMock, make_remover: MakeRemover
) -> None:
    httpx_mock.add_response(status_code=413, text="Request Entity Too Large")
    with pytest.raises(ImageTooLarge, match="API4AI_MAX_UPLOAD_SIDE"):
        await make_remover().remove(jpeg_upload(), MASK_PLAN)
    assert len(httpx_mock.get_requests()) == 1


async def test_other_client_errors_pass_the_providers_words_without_the_key(
    httpx_mock: HTTPXMock, make_remover: MakeRemover
) -> None:
    httpx_mock.add_response(
        status_code=400, json={"message": f"Unsupported image (key {API_KEY})."}
    )
    with pytest.raises(BackgroundRemovalFailed) as caught:
        await make_remover().remove(jpeg_upload(), MASK_PLAN)
    assert caught.value.message == (
        "API4.ai refused this image (HTTP 400): Unsupported image (key <redacted>)."
    )


async def test_a_wrong_url_says_so(httpx_mock: HTTPXMock, make_remover: MakeRemover) -> None:
    httpx_mock.add_response(status_code=404, text="Not Found")
    with pytest.raises(BackgroundRemovalFailed, match="API4AI_URL"):
        await make_remover().remove(jpeg_upload(), MASK_PLAN)


# The concurrency limit, the key's privacy, Retry-After parsing.


async def test_concurrency_is_limited_per_remover(
    httpx_mock: HTTPXMock, make_remover: MakeRemover
) -> None:
    in_flight = 0
    peak = 0

    async def slow_answer(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.02)
        in_flight -= 1
        return httpx.Response(200, json=ok_body(png_bytes()))

    httpx_mock.add_callback(slow_answer, is_reusable=True)
    remover = make_remover(concurrency=2)
    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(remover.remove, jpeg_upload(), MASK_PLAN)
    assert peak == 2
    assert len(httpx_mock.get_requests()) == 6


def test_the_key_is_not_in_the_repr(make_remover: MakeRemover) -> None:
    assert API_KEY not in repr(make_remover())


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="api_key"):
        Api4aiRemover(api_key="")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), (" 2.5 ", 2.5), ("-4", 0.0), ("soon", None), ("", None)],
)
def test_parse_retry_after_seconds(value: str, expected: float | None) -> None:
    assert parse_retry_after({"retry-after": value}) == expected


def test_parse_retry_after_dates() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    headers = httpx.Headers({"Retry-After": "Fri, 02 Jan 2026 03:05:05 GMT"})
    assert parse_retry_after(headers, now=now) == 60.0
    past = httpx.Headers({"Retry-After": "Thu, 01 Jan 2026 00:00:00 GMT"})
    assert parse_retry_after(past, now=now) == 0.0
    assert parse_retry_after(httpx.Headers({}), now=now) is None
