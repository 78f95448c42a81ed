"""JSON-lines logging: one object per line with `ts`, `level` (`INFO`, `ERROR`, ...),
`service`, `event`, `job_id` when the current task knows it, `trace_id` / `span_id` of the
current OpenTelemetry span, and the call's own fields. An `ERROR` line always has a
`reason` (the call's, else the exception's type, else the event), so
`jq -r 'select(.level=="ERROR") | .reason' | sort | uniq -c` groups every error.

Example::

    configure_logging("gateway", "INFO", secrets=[settings.jwt_secret])
    log = get_logger(__name__)
    with log_context(job_id="j1"):
        log.info("job.created", extra={"platform": "tiktok"})
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from opentelemetry import trace
from pydantic import SecretStr

job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)
# The service handling the current task, when one process hosts several (tests); the
# formatter's own name otherwise.
service_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("service", default=None)

_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}
_REDACTED = "[redacted]"


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.service = service
        # Short strings would redact innocent text; real secrets are long.
        self.secrets = [s for s in secrets if len(s) >= 8]

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": service_var.get() or self.service,
            "event": record.getMessage(),
            "logger": record.name,
        }
        if job_id := job_id_var.get():
            entry["job_id"] = job_id
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        elif trace_id := trace_id_var.get():
            entry["trace_id"] = trace_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        if record.levelno >= logging.ERROR and entry.get("reason") is None:
            exc = record.exc_info[1] if record.exc_info else None
            entry["reason"] = type(exc).__name__ if exc is not None else entry["event"]
        line = orjson.dumps(entry, default=str).decode()
        for secret in self.secrets:
            line = line.replace(secret, _REDACTED)
        return line


def configure_logging(
    service: str,
    level: str = "INFO",
    secrets: Iterable[SecretStr | str | None] = (),
    file: Path | None = None,
) -> None:
    """Route every logger to stderr as JSON lines, masking the given secret values; with
    `file`, append the same lines there too (`make run` keeps `data/logs/<service>.jsonl`)."""
    plain = [s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets if s]
    formatter = JsonFormatter(service, plain)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, logging.FileHandler) and isinstance(old.formatter, JsonFormatter):
            old.close()  # ours, from an earlier call
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "nats"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)


@contextlib.contextmanager
def log_context(
    job_id: str | None = None, trace_id: str | None = None, service: str | None = None
) -> Iterator[None]:
    """Attach `job_id` (and `service`) to every log line written inside the block;
    `trace_id` is used only where no OpenTelemetry span is current."""
    tokens = []
    if job_id is not None:
        tokens.append((job_id_var, job_id_var.set(job_id)))
    if trace_id is not None:
        tokens.append((trace_id_var, trace_id_var.set(trace_id)))
    if service is not None:
        tokens.append((service_var, service_var.set(service)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
