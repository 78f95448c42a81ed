"""The spans of this process recorded in memory: the SDK's in-memory exporter on the
process's tracer provider, kept only while a block records."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

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
