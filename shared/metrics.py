"""Prometheus metrics shared by every service (each process has its own registry
content; series names are the same everywhere so dashboards aggregate by `service`)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

EVENTS_PUBLISHED = Counter(
    "reelsmith_events_published_total", "Events published to JetStream", ["subject"]
)
EVENTS_CONSUMED = Counter(
    "reelsmith_events_consumed_total",
    "Events consumed, by outcome (acked, retried, dead_lettered)",
    ["subject", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "reelsmith_event_handler_seconds", "Time spent in an event handler", ["subject"]
)

# Paid model calls (Replicate). `operation` is create | get | cancel | download.
PROVIDER_REQUESTS = Counter(
    "reelsmith_provider_requests_total",
    "Requests to a generation provider, by model, operation and outcome (ok, 429, 5xx, ...)",
    ["provider", "model", "operation", "outcome"],
)
PROVIDER_LATENCY = Histogram(
    "reelsmith_provider_request_seconds",
    "Latency of one provider HTTP request",
    ["provider", "model", "operation"],
)
PROVIDER_RETRIES = Counter(
    "reelsmith_provider_retries_total",
    "Provider requests or predictions retried, by reason (429, 5xx, connection, failed)",
    ["provider", "model", "reason"],
)
PREDICTIONS = Counter(
    "reelsmith_provider_predictions_total",
    "Predictions that reached a terminal state, by model and status",
    ["provider", "model", "status"],
)
PREDICTION_SECONDS = Histogram(
    "reelsmith_provider_prediction_seconds",
    "Wall time from create to terminal state of one prediction",
    ["provider", "model"],
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)
PROVIDER_POLLS = Counter(
    "reelsmith_provider_polls_total",
    "Status requests (GET prediction) made while following predictions",
    ["provider", "model"],
)


def exposition() -> tuple[bytes, str]:
    """The current metrics in Prometheus text format, with its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
