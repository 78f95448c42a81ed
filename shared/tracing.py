"""Tracing with the OpenTelemetry SDK: one tracer provider per process, W3C
`traceparent` carried in NATS headers, and one trace per job across the services.

A job's trace id is its id (job ids are 128 random bits), so an operator pastes a job id
into the trace search. The gateway's `jobs.created` event opens the trace's root span;
every later command on the job (approve, render, refine, cancel, ...) is a child of that
root, linked to the HTTP request that asked for it, and every worker continues the trace
from the message headers. Spans are exported over OTLP/HTTP only when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set; otherwise they exist only to carry ids (logs still
show `trace_id`) and are not recorded at all.

Example::

    configure_tracing("renderer", settings.otel_exporter_otlp_endpoint)   # once, at start
    with span("replicate.predict", model="flux-schnell", role="frame"):
        ...                                      # a provider call, a render phase, ...
    headers = inject_traceparent({})             # the current trace, or a new one
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
    TraceState,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

TRACEPARENT = "traceparent"
JOB_CREATED = "jobs.created"
SCOPE = "reelsmith"

_PROPAGATOR = TraceContextTextMapPropagator()
_forced_ids: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "forced_span_ids", default=None
)
_install_lock = threading.Lock()
_installed: TracerProvider | None = None
_tracers: dict[str, trace.Tracer] = {}


class _JobAwareIds(RandomIdGenerator):
    """Random ids, except for a job's root span, whose ids derive from the job id so that
    any service can continue the job's trace without looking anything up."""

    def generate_trace_id(self) -> int:
        forced = _forced_ids.get()
        return forced[0] if forced else super().generate_trace_id()

    def generate_span_id(self) -> int:
        forced = _forced_ids.get()
        return forced[1] if forced else super().generate_span_id()

    def is_trace_id_random(self) -> bool:
        return _forced_ids.get() is None


class _RecordedOnceReceived(Sampler):
    """Spans are recorded once something receives them (an OTLP exporter, a test's
    recorder). Until then each span is non-recording: it has its ids, which the logs and
    the message headers carry, and costs a fraction of a recorded one (a storyboard job
    starts about ten; recorded for nobody they took a tenth of the worker's CPU). The
    parent's sampled flag is not consulted: a service that exports records its spans
    whether or not the one before it did."""

    def __init__(self) -> None:
        self.recording = False

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        state = parent.trace_state if parent.is_valid else None
        if self.recording:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)
        return SamplingResult(Decision.DROP, None, state)

    def get_description(self) -> str:
        return "RecordedOnceReceived"


class _Provider(TracerProvider):
    """Starts recording spans with its first span processor (see `_RecordedOnceReceived`)."""

    def __init__(self, resource: Resource) -> None:
        self._sampler_of_spans = _RecordedOnceReceived()
        super().__init__(
            sampler=self._sampler_of_spans, resource=resource, id_generator=_JobAwareIds()
        )

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self._sampler_of_spans.recording = True


def build_provider(service: str, endpoint: str | None = None) -> TracerProvider:
    """A tracer provider for `service`: spans go over OTLP/HTTP to `endpoint` (the
    `/v1/traces` path is added), and nowhere without one (then they are not recorded)."""
    resource = Resource.create({"service.name": service, "service.namespace": "reelsmith"})
    provider = _Provider(resource)
    if endpoint:
        provider.add_span_processor(_otlp(endpoint))
    return provider


def _otlp(endpoint: str) -> BatchSpanProcessor:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))


def configure_tracing(service: str, endpoint: str | None = None) -> TracerProvider:
    """Install this process's tracer provider. The first call wins; a later one with an
    endpoint still adds the export (the provider keeps its first name)."""
    global _installed
    with _install_lock:
        if _installed is None:
            _installed = build_provider(service, endpoint)
            trace.set_tracer_provider(_installed)
        elif endpoint:
            _installed.add_span_processor(_otlp(endpoint))
        return _installed


def tracer_provider() -> TracerProvider:
    """The process's provider; a silent one for `reelsmith` if nothing configured it
    (tests, scripts), so ids exist and propagate everywhere."""
    return _installed or configure_tracing(SCOPE)


def shutdown_tracing() -> None:
    """Flush spans still queued for export (at process exit)."""
    if _installed is not None:
        _installed.shutdown()


def get_tracer(scope: str = SCOPE) -> trace.Tracer:
    tracer = _tracers.get(scope)
    if tracer is None:
        tracer = _tracers[scope] = tracer_provider().get_tracer(scope)
    return tracer


@contextlib.contextmanager
def span(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    scope: str = SCOPE,
    attributes: Mapping[str, Any] | None = None,
    **named: str | int | float | bool | None,
) -> Iterator[Span]:
    """A child span of the current one around a block; an exception escaping the block
    is recorded on it and marks it as an error. Attributes come as keywords or, for
    dotted names, as `attributes`; `None` values are left out.

    Example (a provider call)::

        with span("replicate.predict", SpanKind.CLIENT, model=model, role="frame",
                  attributes={"reelsmith.job_id": job_id}) as current:
            state = await client.create(...)
            current.set_attribute("prediction.id", state.id)
    """
    merged = {**(attributes or {}), **named}
    clean = {key: value for key, value in merged.items() if value is not None}
    with get_tracer(scope).start_as_current_span(name, kind=kind, attributes=clean) as current:
        yield current


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def extract(headers: Mapping[str, str] | None) -> Context | None:
    """The trace context a message or request carries, or None."""
    if not headers or TRACEPARENT not in headers:
        return None
    # HTTP header names arrive in any case; the propagator looks them up in lower case.
    context = _PROPAGATOR.extract({key.lower(): value for key, value in headers.items()})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Add the current span's `traceparent` (if there is a current span)."""
    _PROPAGATOR.inject(headers)
    return headers


def trace_id_from(headers: Mapping[str, str] | None) -> str | None:
    context = extract(headers)
    if context is None:
        return None
    return format(trace.get_current_span(context).get_span_context().trace_id, "032x")


def inject_traceparent(headers: dict[str, str]) -> dict[str, str]:
    """Add a `traceparent` continuing the current trace, or starting a new one."""
    if trace.get_current_span().get_span_context().is_valid:
        return inject(headers)
    with get_tracer().start_as_current_span("message", kind=SpanKind.PRODUCER):
        return inject(headers)


# --------------------------------------------------------------------------- job traces


def job_trace_id(job_id: str) -> int:
    """The trace id of a job: the job id itself when it is 32 hex digits, else a hash."""
    if len(job_id) == 32:
        with contextlib.suppress(ValueError):
            if value := int(job_id, 16):
                return value
    return int.from_bytes(hashlib.blake2b(job_id.encode(), digest_size=16).digest()) or 1


def job_root_span_id(job_id: str) -> int:
    digest = hashlib.blake2b(b"root:" + job_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest) or 1


def job_root_context(job_id: str) -> Context:
    """The context of a job's root span (made by whoever created the job)."""
    root = SpanContext(
        trace_id=job_trace_id(job_id),
        span_id=job_root_span_id(job_id),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(NonRecordingSpan(root))


def start_event_span(
    name: str, job_id: str, subject: str, attributes: Mapping[str, Any] | None = None
) -> Span:
    """A PRODUCER span for an event of job `job_id`, in the job's trace.

    Inside the job's trace (a worker handling one of the job's events) it is a child of
    the current span. Anywhere else (an HTTP request, a background task) it is linked to
    the current span instead: `jobs.created` opens the job's root span, any other event
    is a child of that root. Without a job id it is a plain child of the current span.
    """
    tracer = get_tracer()
    current = trace.get_current_span().get_span_context()
    attrs = {
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        **(attributes or {}),
    }
    if not job_id:
        return tracer.start_span(name, kind=SpanKind.PRODUCER, attributes=attrs)
    attrs["reelsmith.job_id"] = job_id
    trace_id = job_trace_id(job_id)
    if current.is_valid and current.trace_id == trace_id:
        return tracer.start_span(name, kind=SpanKind.PRODUCER, attributes=attrs)
    links = [Link(current)] if current.is_valid else []
    if subject != JOB_CREATED:
        parent = job_root_context(job_id)
        return tracer.start_span(
            name, context=parent, kind=SpanKind.PRODUCER, links=links, attributes=attrs
        )
    token = _forced_ids.set((trace_id, job_root_span_id(job_id)))
    try:
        return tracer.start_span(
            name, context=Context(), kind=SpanKind.PRODUCER, links=links, attributes=attrs
        )
    finally:
        _forced_ids.reset(token)


def inject_event_context(
    headers: dict[str, str], job_id: str, subject: str, attributes: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Give an event's headers a `traceparent` in its job's trace: the current span's
    when it is in that trace, else a `create <subject>` span's (see `start_event_span`)."""
    current = trace.get_current_span().get_span_context()
    if current.is_valid and (not job_id or current.trace_id == job_trace_id(job_id)):
        return inject(headers)
    created = start_event_span(f"create {subject}", job_id, subject, attributes)
    with trace.use_span(created, end_on_exit=True):
        return inject(headers)


@contextlib.contextmanager
def publish_span(
    subject: str, job_id: str, attributes: Mapping[str, Any] | None = None
) -> Iterator[Span]:
    """`publish <subject>` around sending an event of `job_id` (see `start_event_span`)."""
    created = start_event_span(f"publish {subject}", job_id, subject, attributes)
    with trace.use_span(created, end_on_exit=True) as current:
        yield current


@contextlib.contextmanager
def send_span(subject: str, headers: Mapping[str, str]) -> Iterator[None]:
    """`send <subject>` for a message published outside any span (the outbox relay), as a
    child of the context its headers carry; nothing extra inside a `publish` span."""
    if trace.get_current_span().get_span_context().is_valid:
        yield
        return
    attrs = {"messaging.system": "nats", "messaging.destination.name": subject}
    with get_tracer().start_as_current_span(
        f"send {subject}", context=extract(headers), kind=SpanKind.PRODUCER, attributes=attrs
    ):
        yield


@contextlib.contextmanager
def consumer_span(
    subject: str, headers: Mapping[str, str] | None, service: str, consumer: str, deliveries: int
) -> Iterator[Span]:
    """`process <subject>` around handling one message, a child of its producer's span."""
    attrs: dict[str, Any] = {
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        "messaging.consumer.group.name": consumer,
        "messaging.message.delivery_count": deliveries,
        "reelsmith.service": service,
    }
    with get_tracer(f"{SCOPE}.{service}").start_as_current_span(
        f"process {subject}", context=extract(headers), kind=SpanKind.CONSUMER, attributes=attrs
    ) as current:
        yield current


@contextlib.contextmanager
def server_span(
    name: str, headers: Mapping[str, str] | None, service: str, **attributes: Any
) -> Iterator[Span]:
    """A SERVER span for a request (HTTP or NATS request/reply), continuing the caller's
    trace when its headers carry one."""
    attrs = {"reelsmith.service": service, **attributes}
    with get_tracer(f"{SCOPE}.{service}").start_as_current_span(
        name, context=extract(headers), kind=SpanKind.SERVER, attributes=attrs
    ) as current:
        yield current


def mark_failed(exc: BaseException) -> None:
    """Record `exc` on the current span and mark it as an error (for failures handled
    without leaving the span, e.g. a message nak'ed for a retry)."""
    current = trace.get_current_span()
    current.record_exception(exc)
    current.set_status(trace.StatusCode.ERROR, type(exc).__name__)
