"""An OTLP/HTTP trace receiver for the benchmarks: the services export their spans to it
(`OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url`), and the benchmark reads them back afterwards.

Export requests are kept as raw bytes while the benchmark runs and decoded only when asked
for (`spans()`), so the receiver costs the measured run little CPU: the load generator
shares the machine with the system under test.

Example::

    async with TraceReceiver() as receiver:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, **FAST_EXPORT}
        ...                                   # run the system with env, load it
        spans = receiver.spans()              # every span received so far
"""

from __future__ import annotations

import gzip
import time
import zlib
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

# The standard batch span processor settings (OTEL_BSP_*): export every 100 ms instead of
# every 5 s, so a run's spans arrive seconds after it ends, and queue enough that a burst
# of 200 jobs (about ten spans each per service) is never dropped.
FAST_EXPORT = {
    "OTEL_BSP_SCHEDULE_DELAY": "100",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2048",
    "OTEL_BSP_MAX_QUEUE_SIZE": "65536",
}
KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_EMPTY_REPLY = ExportTraceServiceResponse().SerializeToString()


@dataclass(frozen=True)
class SpanRecord:
    """One received span; ids as lower-case hex, times in Unix nanoseconds."""

    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str
    start_ns: int
    end_ns: int
    links: tuple[tuple[str, str], ...] = ()
    attributes: dict[str, str | int | float | bool] = field(default_factory=dict)

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


def _value(any_value: object) -> str | int | float | bool:
    kind = any_value.WhichOneof("value")  # type: ignore[attr-defined]
    return getattr(any_value, kind) if kind else ""


def decode(body: bytes) -> list[SpanRecord]:
    """Every span of one ExportTraceServiceRequest."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    found = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        service = str(resource.get("service.name", "?"))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append(
                    SpanRecord(
                        service=service,
                        name=span.name,
                        kind=KINDS.get(span.kind, str(span.kind)),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        links=tuple((ln.trace_id.hex(), ln.span_id.hex()) for ln in span.links),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                    )
                )
    return found


class TraceReceiver:
    """`POST /v1/traces` on a free loopback port; `url` is the endpoint to export to."""

    def __init__(self) -> None:
        self._bodies: list[bytes] = []
        self.last_received = 0.0
        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/v1/traces", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        self.url = ""

    async def __aenter__(self) -> TraceReceiver:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        match request.headers.get("Content-Encoding", ""):
            case "gzip":
                body = gzip.decompress(body)
            case "deflate":
                body = zlib.decompress(body)
        self._bodies.append(body)
        self.last_received = time.monotonic()
        return web.Response(body=_EMPTY_REPLY, content_type="application/x-protobuf")

    @property
    def requests(self) -> int:
        return len(self._bodies)

    def spans(self) -> list[SpanRecord]:
        return [span for body in self._bodies for span in decode(body)]
