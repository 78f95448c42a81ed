"""JSON log lines carry the service, job and trace, and never a secret."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from shared.logging import configure_logging, get_logger, log_context
from shared.settings import Settings
from shared.tracing import inject_traceparent, span, trace_id_from


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
    with log_context(job_id="job-9"), span("work") as current:
        log.info("job.created", extra={"platform": "tiktok"})
    log.warning("outside")
    inside, outside = _lines(captured)
    trace = format(current.get_span_context().trace_id, "032x")
    assert inside["service"] == "tester" and inside["event"] == "job.created"
    assert inside["job_id"] == "job-9" and inside["trace_id"] == trace
    assert inside["span_id"] == format(current.get_span_context().span_id, "016x")
    assert inside["platform"] == "tiktok" and inside["level"] == "INFO" and "ts" in inside
    assert "job_id" not in outside and "trace_id" not in outside
    assert outside["level"] == "WARNING"


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
    # A new trace gets a W3C traceparent; inside a span the span's trace continues.
    headers = inject_traceparent({})
    trace = trace_id_from(headers)
    assert trace is not None and len(trace) == 32
    assert trace_id_from(inject_traceparent({})) != trace
    with span("work") as current:
        inside = trace_id_from(inject_traceparent({}))
    assert inside == format(current.get_span_context().trace_id, "032x")
    assert trace_id_from({"traceparent": "garbage"}) is None


def test_error_lines_always_carry_a_reason(captured: io.StringIO) -> None:
    # The call's reason wins; else the exception's type; else the event itself.
    log = get_logger("test")
    log.error("render.failed", extra={"reason": "provider_timeout"})
    try:
        raise FileNotFoundError("frame missing")
    except FileNotFoundError:
        log.exception("render.failed")
    log.error("outbox.stuck")
    log.info("fine")
    reasons = [line.get("reason") for line in _lines(captured)]
    assert reasons == ["provider_timeout", "FileNotFoundError", "outbox.stuck", None]


def test_lines_also_go_to_a_file(tmp_path: Path) -> None:
    # With a file, every line is written there too, one JSON object per line.
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    path = tmp_path / "logs" / "tester.jsonl"
    try:
        configure_logging("tester", "INFO", file=path)
        get_logger("test").info("written", extra={"n": 1})
        for handler in root.handlers:
            handler.flush()
    finally:
        for handler in root.handlers:
            if isinstance(handler, logging.FileHandler):
                handler.close()
        root.handlers[:] = saved
        root.setLevel(level)
    (line,) = path.read_text().splitlines()
    assert orjson.loads(line)["event"] == "written" and orjson.loads(line)["n"] == 1
