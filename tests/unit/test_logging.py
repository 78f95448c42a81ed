"""JSON log lines carry the service, job and trace, and never a secret."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest
from pydantic import SecretStr

from shared.logging import configure_logging, get_logger, log_context
from shared.settings import Settings
from shared.tracing import inject_traceparent, new_traceparent, trace_id_from


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Route the configured JSON handler into a buffer; restore pytest's handlers after."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    configure_logging("tester", "DEBUG", secrets=[SecretStr("s3cret-value-123"), None, "short"])
    buffer = io.StringIO()
    root.handlers[0].stream = buffer  # type: ignore[attr-defined]
    yield buffer
    root.handlers[:] = saved
    root.setLevel(level)


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in buffer.getvalue().splitlines()]


def test_lines_are_json_with_context(captured: io.StringIO) -> None:
    # Inside a job's context, every line names the job and its trace.
    log = get_logger("test")
    trace = trace_id_from({"traceparent": new_traceparent()})
    with log_context(job_id="job-9", trace_id=trace):
        log.info("job.created", extra={"platform": "tiktok"})
    log.warning("outside")
    inside, outside = _lines(captured)
    assert inside["service"] == "tester" and inside["event"] == "job.created"
    assert inside["job_id"] == "job-9" and inside["trace_id"] == trace
    assert inside["platform"] == "tiktok" and inside["level"] == "info" and "ts" in inside
    assert "job_id" not in outside


def test_secrets_are_masked_even_in_errors(captured: io.StringIO) -> None:
    # A secret that slips into a message or a traceback is replaced.
    log = get_logger("test")
    try:
        raise RuntimeError("token s3cret-value-123 rejected")
    except RuntimeError:
        log.exception("failed with s3cret-value-123")
    text = captured.getvalue()
    assert "s3cret-value-123" not in text and "[redacted]" in text
    assert orjson.loads(text.splitlines()[0])["error"]


def test_settings_never_print_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    # Secrets from the environment (either Replicate name) stay hidden in reprs.
    monkeypatch.setenv("JWT_SECRET", "jwt-secret-from-env-xyz")
    monkeypatch.setenv("REPLICATE_API_KEY", "r8_from_env_abcdef")
    settings = Settings()
    assert settings.replicate_api_token is not None
    assert settings.replicate_api_token.get_secret_value() == "r8_from_env_abcdef"
    shown = repr(settings) + str(settings.model_dump())
    assert "jwt-secret-from-env-xyz" not in shown and "r8_from_env_abcdef" not in shown


def test_traceparent_round_trip() -> None:
    # A new trace gets a W3C traceparent; a continued one keeps the trace id.
    headers = inject_traceparent({})
    trace = trace_id_from(headers)
    assert trace is not None and len(trace) == 32
    with log_context(trace_id=trace):
        assert trace_id_from(inject_traceparent({})) == trace
    assert trace_id_from({"traceparent": "garbage"}) is None
