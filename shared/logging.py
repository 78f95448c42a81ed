"""JSON-lines logging: one object per line with `ts`, `level`, `service`, `event`,
and `job_id` / `trace_id` when the current task knows them.

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
from typing import Any

import orjson
from pydantic import SecretStr

job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)

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
            "level": record.levelname.lower(),
            "service": self.service,
            "event": record.getMessage(),
            "logger": record.name,
        }
        if job_id := job_id_var.get():
            entry["job_id"] = job_id
        if trace_id := trace_id_var.get():
            entry["trace_id"] = trace_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        line = orjson.dumps(entry, default=str).decode()
        for secret in self.secrets:
            line = line.replace(secret, _REDACTED)
        return line


def configure_logging(
    service: str, level: str = "INFO", secrets: Iterable[SecretStr | str | None] = ()
) -> None:
    """Route every logger to stderr as JSON lines, masking the given secret values."""
    plain = [s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets if s]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service, plain))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "nats"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)


@contextlib.contextmanager
def log_context(job_id: str | None = None, trace_id: str | None = None) -> Iterator[None]:
    """Attach `job_id` / `trace_id` to every log line written inside the block."""
    tokens = []
    if job_id is not None:
        tokens.append((job_id_var, job_id_var.set(job_id)))
    if trace_id is not None:
        tokens.append((trace_id_var, trace_id_var.set(trace_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
