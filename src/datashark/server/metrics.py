"""Prometheus metrics of the OpenAI-compatible server, in prometheus_client's default registry.

The default registry is the one `/metrics` renders, so the gateway's metrics (registered there by
its own module) show up beside these. Metric objects are created once per process, as
prometheus_client expects; the scheduler changes the gauges by deltas so that several servers in
one process (tests) add up instead of overwriting each other.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)

REQUESTS = Counter(
    "datashark_requests", "HTTP requests by route and status code.", ["route", "status"]
)
PROMPT_TOKENS = Counter("datashark_prompt_tokens", "Prompt tokens processed.")
COMPLETION_TOKENS = Counter("datashark_completion_tokens", "Completion tokens generated.")
TIME_TO_FIRST_TOKEN = Histogram(
    "datashark_time_to_first_token_seconds",
    "Seconds from request arrival to the first generated token.",
    buckets=_TTFT_BUCKETS,
)
REQUEST_LATENCY = Histogram(
    "datashark_request_latency_seconds",
    "Seconds from request arrival to the last byte of the response, by route.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)
RUNNING_SEQUENCES = Gauge("datashark_running_sequences", "Sequences in the running batch.")
WAITING_SEQUENCES = Gauge("datashark_waiting_sequences", "Sequences waiting for a batch slot.")


def render() -> tuple[bytes, str]:
    """The default registry in Prometheus text format, with its content type."""
    return _generate_latest(REGISTRY), CONTENT_TYPE_LATEST
