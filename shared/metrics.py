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


def exposition() -> tuple[bytes, str]:
    """The current metrics in Prometheus text format, with its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
