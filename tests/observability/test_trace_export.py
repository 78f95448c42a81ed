"""OTLP export from a real service process: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the
assets service sends its spans over OTLP/HTTP to a collector (here a loopback receiver),
continuing the caller's trace from the NATS request headers; without it, nothing leaves."""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from shared.assets import GET, GetReply, GetRequest
from shared.bus import Bus
from shared.tracing import span
from tests.observability.conftest import SpanRecorder
from tests.support.nats_server import NatsServer
from tests.support.waiting import eventually

REPO = Path(__file__).resolve().parents[2]


class Collector:
    """An OTLP/HTTP trace receiver on loopback: keeps every export request it gets."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector.requests.append(request)
                collector.paths.append(self.path)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> list[tuple[str, object]]:
        """(service.name, span) for every span received."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                attributes = {
                    a.key: a.value.string_value for a in resource_spans.resource.attributes
                }
                for scope_spans in resource_spans.scope_spans:
                    found += [(attributes["service.name"], s) for s in scope_spans.spans]
        return found


@pytest.fixture
def collector() -> Iterator[Collector]:
    receiver = Collector()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


async def ask_assets_service(
    nats_server: NatsServer, tmp_path: Path, endpoint: str | None
) -> tuple[int, int]:
    """Run the assets service as its own process, ask it one question inside a span of
    ours, stop it (SIGTERM flushes its spans); our span's trace and span ids."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {
        "NATS_URL": nats_server.url,
        "DATABASE_PATH": str(tmp_path / "assets.db"),
        "VIDEO_STORAGE_PATH": str(tmp_path / "storage"),
        "METRICS_PORT": "0",
    }
    if endpoint is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.assets",
        cwd=REPO,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    bus = await Bus.connect(nats_server.url, service="tester")
    try:
        with span("tester.lookup") as ours:
            reply = await eventually(
                lambda: _lookup(bus), lambda answer: answer is not None, timeout_s=30
            )
        assert reply is not None and reply.missing == ["0" * 32]
        context = ours.get_span_context()
    finally:
        await bus.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0
    return context.trace_id, context.span_id


async def _lookup(bus: Bus) -> GetReply | None:
    try:
        request = GetRequest(client_id="client-a", asset_ids=["0" * 32])
        reply = await bus.request(GET, request, GetReply, timeout_s=2)
    except Exception:  # the service is still starting (no responders yet)
        return None
    assert isinstance(reply, GetReply)
    return reply


async def test_spans_are_exported_when_an_endpoint_is_set(
    nats_server: NatsServer, tmp_path: Path, collector: Collector, spans: SpanRecorder
) -> None:
    # The assets service, told where the collector is, handles one request.
    trace_id, our_span = await ask_assets_service(nats_server, tmp_path, collector.url)

    # Our side: the request went out as a CLIENT span under our own span.
    (client,) = [
        s
        for s in spans.get_finished_spans()
        if s.name == "request assets.get" and s.context.trace_id == trace_id and s.status.is_ok
    ][-1:]
    assert client.parent is not None and client.parent.span_id == our_span

    # Its server span arrived over OTLP/HTTP, in our trace, as the child of that request.
    assert set(collector.paths) == {"/v1/traces"}
    served = [
        s
        for service, s in collector.spans()
        if service == "assets" and s.name == "request assets.get"
    ]
    assert served, [s.name for _, s in collector.spans()]
    assert all(int.from_bytes(s.trace_id) == trace_id for s in served)
    assert int.from_bytes(served[-1].parent_span_id) == client.context.span_id


async def test_nothing_is_exported_without_an_endpoint(
    nats_server: NatsServer, tmp_path: Path, collector: Collector
) -> None:
    # The same run with OTEL_EXPORTER_OTLP_ENDPOINT unset (and the collector listening).
    await ask_assets_service(nats_server, tmp_path, None)
    assert collector.requests == []
