"""Prometheus metrics, served at /metrics on the health port.

The plan's names (images_processed_total, image_processing_duration_seconds, cache_hits_total,
api4ai_calls_total, active_processing_count) plus what an operator of a queue needs.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

images_processed = Counter(
    "images_processed_total",
    "Jobs finished, by outcome (succeeded, failed, retried).",
    ["outcome"],
    registry=REGISTRY,
)
processing_duration = Histogram(
    "image_processing_duration_seconds",
    "Wall time of one job, claim to completion.",
    buckets=(0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120),
    registry=REGISTRY,
)
stage_duration = Histogram(
    "image_stage_duration_seconds",
    "Wall time of one stage of a job.",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
    registry=REGISTRY,
)
cache_hits = Counter(
    "cache_hits_total", "Background-removal cache hits (no provider call).", registry=REGISTRY
)
cache_misses = Counter(
    "cache_misses_total", "Background-removal cache misses (a provider call).", registry=REGISTRY
)
api4ai_calls = Counter(
    "api4ai_calls_total",
    "HTTP calls to API4.ai by outcome (ok, failure, rate_limited, server_error, client_error, "
    "timeout, connection_error, bad_response).",
    ["outcome"],
    registry=REGISTRY,
)
active_processing = Gauge(
    "active_processing_count", "Jobs this process is working on now.", registry=REGISTRY
)
failures = Counter(
    "job_failures_total", "Failed attempts by error code.", ["code", "retryable"], registry=REGISTRY
)
claims = Counter("job_claims_total", "Jobs claimed.", registry=REGISTRY)
claim_calls = Counter("job_claim_calls_total", "Calls of claim_processing_jobs.", registry=REGISTRY)
lease_losses = Counter(
    "job_lease_losses_total",
    "Jobs stopped because their claim was over (heartbeat false).",
    registry=REGISTRY,
)
wakeups = Counter(
    "wakeups_total",
    "Hints received, by source and reason.",
    ["source", "reason"],
    registry=REGISTRY,
)
queue_depth = Gauge(
    "queue_depth",
    "Jobs per status, where the backend counts them cheaply.",
    ["status"],
    registry=REGISTRY,
)
pixels_in_flight = Gauge(
    "pixels_in_flight", "Pixels of images being processed now (memory budget).", registry=REGISTRY
)
