"""W3C trace context carried in NATS headers, so one job keeps one trace id
across the gateway and every worker.

Example::

    headers = inject_traceparent({})          # new trace, or the current one
    trace_id = trace_id_from(headers)
"""

from __future__ import annotations

import secrets

from shared.logging import trace_id_var

TRACEPARENT = "traceparent"


def new_traceparent(trace_id: str | None = None) -> str:
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def trace_id_from(headers: dict[str, str] | None) -> str | None:
    value = (headers or {}).get(TRACEPARENT, "")
    parts = value.split("-")
    if len(parts) == 4 and len(parts[1]) == 32:
        return parts[1]
    return None


def inject_traceparent(headers: dict[str, str]) -> dict[str, str]:
    """Add a `traceparent` continuing the current trace (or starting one)."""
    headers[TRACEPARENT] = new_traceparent(trace_id_var.get())
    return headers
