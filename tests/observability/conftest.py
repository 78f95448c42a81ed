"""Fixtures for the observability tests: the spans of this process recorded in memory (the
SDK's in-memory exporter on the process's tracer provider), JSON log lines in a file."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.logging import JsonFormatter
from shared.tracing import tracer_provider


class SpanRecorder(InMemorySpanExporter):
    """Keeps spans only while recording, so the rest of the test run costs no memory
    (a span processor cannot be removed from a provider once added)."""

    recording = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self.recording:
            return SpanExportResult.SUCCESS
        return super().export(spans)


_RECORDER: SpanRecorder | None = None


def span_recorder() -> SpanRecorder:
    global _RECORDER
    if _RECORDER is None:
        _RECORDER = SpanRecorder()
        tracer_provider().add_span_processor(SimpleSpanProcessor(_RECORDER))
    return _RECORDER


@contextlib.contextmanager
def recording_spans() -> Iterator[SpanRecorder]:
    """Every span ended inside the block, in this process, across all services."""
    recorder = span_recorder()
    recorder.clear()
    recorder.recording = True
    try:
        yield recorder
    finally:
        recorder.recording = False


@pytest.fixture
def spans() -> Iterator[SpanRecorder]:
    """The spans ended during the test."""
    with recording_spans() as recorder:
        yield recorder
    recorder.clear()


@contextlib.contextmanager
def json_log_file(path: Path) -> Iterator[Path]:
    """Every log line of the process, as the services write them, also in `path`."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter("test"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(level)
