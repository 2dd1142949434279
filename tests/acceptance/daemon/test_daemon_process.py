"""The daemon as a real process against a real Postgres: the job lifecycle end to end."""

from __future__ import annotations

import io
import re
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from tests.acceptance.daemon.harness import (
    OUTPUT_BUCKET,
    Daemon,
    Env,
    cutout_png,
    running,
    studio_jpeg,
    wait_until,
)
from tests.doubles.api4ai import Api4aiDouble, Canned

API_KEY = "test-api4ai-key"


@pytest.fixture
def api4ai() -> Iterator[Api4aiDouble]:
    with Api4aiDouble(api_key=API_KEY) as double:
        yield double


def with_api4ai(env: Env, double: Api4aiDouble, **extra: str) -> None:
    env.overrides.update(
        API4AI_URL=double.url,
        API4AI_API_KEY=API_KEY,
        BACKGROUND_REMOVER="api4ai",
        API4AI_RETRY_BUDGET_SECONDS="0",
        **extra,
    )


def assert_outputs(env: Env, row: dict[str, object]) -> None:
    """The result has the contract's shape and every variant it names exists and decodes."""
    result = row["result"]
    assert isinstance(result, dict)
    assert set(result["variants"]) == {"processed", "detail", "grid"}
    for name, variant in result["variants"].items():
        assert variant["bucket"] == OUTPUT_BUCKET
        assert variant["path"] == f"{row['id']}/r{row['revision']}/{name}.webp"
        file = env.storage / OUTPUT_BUCKET / variant["path"]
        data = file.read_bytes()
        assert len(data) == variant["bytes"]
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "WEBP"
            assert image.size == (variant["width"], variant["height"])
        assert variant["url"] == file.resolve().as_uri()
    assert result["variants"]["grid"]["width"] == 640
    assert result["variants"]["grid"]["height"] == 480
    meta = result["metadata"]
    for key in (
        "original_size",
        "final_size",
        "crop_box",
        "has_shadow",
        "background_removed",
        "cache_hit",
        "provider",
        "source_sha256",
        "revision",
        "worker",
        "processing_time",
        "timings",
    ):
        assert key in meta, key
    assert meta["revision"] == row["revision"]
    assert {"download", "upload"} <= set(meta["timings"])


def slow_studio_job(env: Env, api4ai: Api4aiDouble, latency: float) -> str:
    """One studio photo queued for a remover that answers after `latency` seconds."""
    with_api4ai(env, api4ai)
    api4ai.set_latency(latency)
    return env.enqueue(studio_jpeg(), "studio.jpg")


def wait_in_flight(env: Env, job: str) -> None:
    """Until the job waits on the remover: claimed, downloaded, decoded, not yet done."""
    wait_until(lambda: env.job(job)["stage"] == "removing_background", what="job in flight")


def test_fifty_jobs_all_succeed(env: Env, tmp_path: Path) -> None:
    ids = [env.enqueue(cutout_png(seed=i), f"car-{i}.png") for i in range(50)]
    with running(env, tmp_path) as daemon:
        rows = env.wait_for(ids, {"succeeded", "failed"}, timeout=180)
        metrics = daemon.metrics()
    failed = [(r["id"], r["error"]) for r in rows if r["status"] != "succeeded"]
    assert not failed
    for row in rows:
        assert row["stage"] == "done" and row["progress"] == 100 and row["attempts"] == 1
        assert row["error"] is None and row["lease_token"] is None
        assert_outputs(env, row)
        assert row["result"]["metadata"]["original_size"] == [480, 320]
        assert row["result"]["metadata"]["has_shadow"] is True
    assert env.sql("select count(*) n from test_completions")[0]["n"] == 50
    assert 'images_processed_total{outcome="succeeded"} 50.0' in metrics
    assert 'image_stage_duration_seconds_count{stage="downloading"} 50.0' in metrics


def test_a_broken_image_fails_with_its_code_while_others_succeed(env: Env, tmp_path: Path) -> None:
    good = [env.enqueue(cutout_png(seed=i), f"car-{i}.png") for i in range(3)]
    truncated = env.enqueue(studio_jpeg()[:1500], "truncated.jpg")
    text = env.enqueue(b"this is not an image", "notes.jpg")
    missing = env.insert_job("test/never-uploaded.jpg")
    bad_options = env.enqueue(cutout_png(), "car.png", {"padding_percent": "lots"})
    with running(env, tmp_path) as daemon:
        env.wait_for([*good, truncated, text, missing, bad_options], {"succeeded", "failed"})
        assert daemon.wait_healthy()["status"] == "healthy"  # one bad job never stops the daemon
        metrics = daemon.metrics()
    assert all(env.job(j)["status"] == "succeeded" for j in good)
    expected = {
        truncated: "corrupt_image",
        text: "unsupported_image",
        missing: "source_not_found",
        bad_options: "invalid_options",
    }
    for job_id, code in expected.items():
        row = env.job(job_id)
        assert row["status"] == "failed", (code, row["error"])
        assert row["error"]["code"] == code
        assert row["error"]["retryable"] is False
        assert row["attempts"] == 1  # permanent: failed at once, no retry
        message = row["error"]["message"]
        assert message.endswith(".") and "Traceback" not in message and "\n" not in message
    assert "padding_percent" in env.job(bad_options)["error"]["message"]
    assert 'job_failures_total{code="corrupt_image",retryable="false"} 1.0' in metrics


def test_transient_remover_errors_are_retried_with_backoff_then_succeed(
    env: Env, tmp_path: Path, api4ai: Api4aiDouble
) -> None:
    with_api4ai(env, api4ai)
    api4ai.enqueue(Canned.rate_limited(retry_after="1"), Canned.server_error(503))
    job = env.enqueue(studio_jpeg(), "studio.jpg")
    with running(env, tmp_path):
        row = env.wait_for([job], {"succeeded", "failed"}, timeout=60)[0]
    assert row["status"] == "succeeded", row["error"]
    assert row["attempts"] == 3  # 429, then 503, then the answer
    assert row["error"] is None
    assert api4ai.calls == 3
    meta = row["result"]["metadata"]
    assert meta["provider"] == "api4ai" and meta["background_removed"] is True
    assert meta["cache_hit"] is False
    cached = list((env.storage / "processing-cache" / "cutouts" / "api4ai").rglob("*.png"))
    assert [p.stem for p in cached] == [meta["source_sha256"]]


def test_reprocessing_uses_the_cache_and_removes_old_outputs(
    env: Env, tmp_path: Path, api4ai: Api4aiDouble
) -> None:
    with_api4ai(env, api4ai)
    job = env.enqueue(studio_jpeg(), "studio.jpg")
    with running(env, tmp_path):
        first = env.wait_for([job], {"succeeded", "failed"})[0]
        env.sql(
            "update processing_jobs set status = 'queued', options = '{\"padding_percent\": 0.2}'"
            " where id = %s",
            (job,),
        )
        wait_until(lambda: env.job(job)["revision"] == 1 and env.job(job)["status"] == "succeeded")
    second = env.job(job)
    assert first["result"]["metadata"]["cache_hit"] is False
    assert second["result"]["metadata"]["cache_hit"] is True
    assert api4ai.calls == 1  # the same photo is never paid for twice
    out = env.storage / OUTPUT_BUCKET / job
    assert sorted(p.name for p in out.iterdir()) == ["r1"]
    assert second["result"]["variants"]["processed"]["path"].startswith(f"{job}/r1/")


def test_kill_9_mid_job_a_second_daemon_finishes_it_once(
    env: Env, tmp_path: Path, api4ai: Api4aiDouble
) -> None:
    job = slow_studio_job(env, api4ai, 3.0)
    first = Daemon(env, tmp_path)
    first.wait_healthy()
    wait_in_flight(env, job)
    first.kill()
    api4ai.set_latency(0.0)
    with running(env, tmp_path) as second:
        second_id = second.worker_id
        row = env.wait_for([job], {"succeeded", "failed"}, timeout=60)[0]
    assert row["status"] == "succeeded"
    assert row["attempts"] == 2  # rescued after the lease ran out
    completions = env.sql("select worker from test_completions where job_id = %s", (job,))
    assert completions == [{"worker": second_id}]
    assert_outputs(env, row)


def test_sigterm_mid_job_finishes_it_and_exits_0(
    env: Env, tmp_path: Path, api4ai: Api4aiDouble
) -> None:
    job = slow_studio_job(env, api4ai, 2.0)
    daemon = Daemon(env, tmp_path)
    daemon.wait_healthy()
    wait_in_flight(env, job)
    daemon.signal(signal.SIGTERM)
    assert daemon.stop() == 0
    row = env.job(job)
    assert row["status"] == "succeeded"
    assert row["attempts"] == 1


@contextmanager
def unanswering_database() -> Iterator[str]:
    """A database URL whose server accepts TCP connections and never answers (a black hole)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        yield f"postgresql://postgres@127.0.0.1:{port}/jobs"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_start_up_exits_0_at_once(
    env: Env, tmp_path: Path, signum: signal.Signals
) -> None:
    """A deploy may stop a machine the moment it started: not the default handler's -15."""
    with unanswering_database() as url:
        daemon = Daemon(env, tmp_path, database_url=url)
        # Still starting: connecting to a database that does not answer (for up to 5 s).
        wait_until(lambda: "starting: postgres backend" in daemon.log(), what="start-up")
        sent = time.monotonic()
        daemon.signal(signum)
        status = daemon.stop(timeout=15)
        took = time.monotonic() - sent
    log = daemon.log_path.read_text()
    assert status == 0, log
    assert f"{signum.name}" in log and "stopped during start-up" in log
    assert "worker" not in log.split("stopped during start-up")[0].split("starting:")[1]
    assert took < 4.0, f"exited {took:.1f} s after the signal, not at once"


def test_a_signal_before_the_event_loop_is_remembered(env: Env, tmp_path: Path) -> None:
    """SIGTERM while still importing and reading settings: no claim, status 0."""
    job = env.enqueue(cutout_png(), "car.png")
    daemon = Daemon(env, tmp_path, log_level="DEBUG")
    # As soon as the process runs Python code of its own; well before its event loop starts.
    wait_until(lambda: _handles_sigterm(daemon.proc.pid), timeout=30, what="the early handler")
    daemon.signal(signal.SIGTERM)
    assert daemon.stop(timeout=15) == 0, daemon.log_path.read_text()
    assert env.job(job)["status"] == "queued"
    assert env.job(job)["attempts"] == 0


def _handles_sigterm(pid: int) -> bool:
    """Whether the process catches SIGTERM (Linux: the SigCgt mask in /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(re.search(r"^SigCgt:\s+([0-9a-f]+)$", status, re.M).group(1), 16)  # type: ignore[union-attr]
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def test_sigterm_past_the_grace_period_releases_the_job(
    env: Env, tmp_path: Path, api4ai: Api4aiDouble
) -> None:
    job = slow_studio_job(env, api4ai, 20.0)
    daemon = Daemon(env, tmp_path, shutdown_grace_seconds="0.5")
    daemon.wait_healthy()
    wait_in_flight(env, job)
    daemon.signal(signal.SIGTERM)
    started = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - started < 10
    row = env.job(job)
    assert row["status"] == "queued"
    assert row["locked_by"] is None and row["lease_token"] is None
    assert row["attempts"] == 0  # a release does not count an attempt


def test_cancel_while_processing_stops_the_job(
    env: Env, tmp_path: Path, api4ai: Api4aiDouble
) -> None:
    job = slow_studio_job(env, api4ai, 4.0)
    with running(env, tmp_path) as daemon:
        wait_in_flight(env, job)
        env.sql("update processing_jobs set status = 'cancelled' where id = %s", (job,))
        wait_until(lambda: "job_lease_losses_total 1.0" in daemon.metrics(), what="lease loss")
        time.sleep(5)  # past the remover's latency: nothing more may be written
        row = env.job(job)
    assert row["status"] == "cancelled"
    assert row["result"] is None
    assert not (env.storage / OUTPUT_BUCKET / job).exists()


def test_requeue_while_processing_restarts_it_at_a_new_revision(
    env: Env, tmp_path: Path, api4ai: Api4aiDouble
) -> None:
    job = slow_studio_job(env, api4ai, 3.0)
    with running(env, tmp_path):
        wait_in_flight(env, job)
        env.sql("update processing_jobs set status = 'queued' where id = %s", (job,))
        api4ai.set_latency(0.0)
        row = env.wait_for([job], {"succeeded", "failed"}, timeout=60)[0]
    assert row["status"] == "succeeded" and row["revision"] == 1
    assert env.sql("select revision from test_completions where job_id = %s", (job,)) == [
        {"revision": 1}
    ]
    assert sorted(p.name for p in (env.storage / OUTPUT_BUCKET / job).iterdir()) == ["r1"]


def test_two_daemons_on_200_jobs_process_each_once(env: Env, tmp_path: Path) -> None:
    data = cutout_png(240, 160)
    ids = [env.enqueue(data, f"car-{i}.png") for i in range(200)]
    with running(env, tmp_path) as a, running(env, tmp_path) as b:
        workers = {a.worker_id, b.worker_id}
        rows = env.wait_for(ids, {"succeeded", "failed"}, timeout=240)
    assert all(r["status"] == "succeeded" and r["attempts"] == 1 for r in rows)
    completions = env.sql("select job_id, count(*) n from test_completions group by job_id")
    assert len(completions) == 200 and all(c["n"] == 1 for c in completions)
    assert {r["result"]["metadata"]["worker"] for r in rows} <= workers
