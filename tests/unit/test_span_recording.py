"""A process whose spans nobody receives does not record them, but every span still has
its ids and passes them on in `traceparent`; once a span processor is added (an
exporter, a recorder) the same code records full spans."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.tracing import build_provider, extract, inject


def test_spans_carry_ids_but_are_recorded_only_once_something_receives_them() -> None:
    provider = build_provider("test")
    tracer = provider.get_tracer("test")

    with (
        tracer.start_as_current_span("root") as root,
        tracer.start_as_current_span("work", attributes={"a": 1}) as child,
    ):
        assert not root.is_recording() and not child.is_recording()
        ids = child.get_span_context()
        assert ids.is_valid and ids.trace_id == root.get_span_context().trace_id
        headers = inject({})
    carried = trace.get_current_span(extract(headers)).get_span_context()
    assert (carried.trace_id, carried.span_id) == (ids.trace_id, ids.span_id)

    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # A remote parent that was not recorded does not stop this process recording its own.
    with tracer.start_as_current_span("work", context=extract(headers), attributes={"a": 1}):
        pass
    (recorded,) = exporter.get_finished_spans()
    assert recorded.name == "work" and recorded.attributes == {"a": 1}
    assert recorded.context.trace_id == ids.trace_id and recorded.parent.span_id == ids.span_id
