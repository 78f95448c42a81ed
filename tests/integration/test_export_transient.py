"""An export that hits a transient error (a NATS blip) is retried, not failed: the
handler re-raises, the bus naks the message, JetStream redelivers it.

Real NATS, real JetStream streams, the real consume loop and `RendererHandlers`; only
our own exporter is replaced, by one that raises `TransientError` on its first call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import pytest_asyncio

from services.renderer.exports import Exporter
from services.renderer.handlers import RendererHandlers
from services.renderer.rendering import Renderer
from shared.bus import Bus, ConsumerSpec, TransientError
from shared.events import Event, ExportRequested, RenderCompleted, RenderFailed
from shared.models import VideoOutput
from shared.storage import LocalStorage
from tests.support.nats_server import NatsServer
from tests.support.streams import stream_messages
from tests.support.system import delete_streams
from tests.support.waiting import eventually

SPEC = ConsumerSpec(
    durable="renderer-export-test",
    stream="JOBS",
    subjects=(ExportRequested.subject,),
    ack_wait_s=5,
    max_deliver=3,
)


def _video(kind: str = "render") -> VideoOutput:
    return VideoOutput(
        kind=kind,  # type: ignore[arg-type]
        aspect="1:1",
        key=f"videos/job-x/{kind}.mp4",
        url=f"/videos/job-x/{kind}.mp4",
        duration_s=6.0,
        width=64,
        height=64,
        size_bytes=1000,
    )


class BlippingExporter(Exporter):
    """Our exporter, failing transiently the first `blips` times it is called."""

    def __init__(self, storage: LocalStorage, blips: int) -> None:
        super().__init__(storage, divisor=8)
        self.blips = blips
        self.calls = 0

    async def export(
        self,
        job_id: str,
        request: ExportRequested,
        report: Callable[[float], Awaitable[None]],
    ) -> VideoOutput:
        self.calls += 1
        if self.calls <= self.blips:
            raise TransientError("publish to jobs.render.progress failed: connection lost")
        return _video("export")


@pytest_asyncio.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    connected = await Bus.connect(nats_server.url, service="renderer")
    await connected.ensure_streams()
    yield connected
    await connected.close()
    await delete_streams(nats_server.url)


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


@pytest.fixture
def pool() -> Iterator[ProcessPoolExecutor]:
    # Never submitted to (exports do not render scenes), so it starts no process.
    executor = ProcessPoolExecutor(max_workers=1)
    yield executor
    executor.shutdown()


def _handlers(
    bus: Bus, storage: LocalStorage, pool: ProcessPoolExecutor, exporter: Exporter
) -> RendererHandlers:
    return RendererHandlers(bus, storage, Renderer(storage, pool, divisor=8), exporter)


def _export_requested(job_id: str) -> Event[ExportRequested]:
    payload = ExportRequested(export_id="exp-1", aspect="1:1", source=_video())
    return payload.envelope(job_id=job_id, client_id="client-1")


async def _follow_ups(nats_url: str, job_id: str) -> list[Event[RenderCompleted | RenderFailed]]:
    found = []
    for stored in await stream_messages(nats_url, "JOBS"):
        kind = {RenderCompleted.subject: RenderCompleted, RenderFailed.subject: RenderFailed}
        if stored.subject in kind:
            event = Event[kind[stored.subject]].model_validate_json(stored.data)  # type: ignore[index]
            if event.job_id == job_id:
                found.append(event)
    return found


async def test_transient_error_during_export_is_reraised_not_published(
    bus: Bus, storage: LocalStorage, pool: ProcessPoolExecutor, nats_server: NatsServer
) -> None:
    # The handler itself lets the transient error out and publishes no failure.
    exporter = BlippingExporter(storage, blips=1)
    handlers = _handlers(bus, storage, pool, exporter)
    with pytest.raises(TransientError):
        await handlers.on_export_requested(_export_requested("job-direct"))
    assert exporter.calls == 1
    assert await _follow_ups(nats_server.url, "job-direct") == []


async def test_export_after_a_transient_error_is_redelivered_and_completes(
    bus: Bus, storage: LocalStorage, pool: ProcessPoolExecutor, nats_server: NatsServer
) -> None:
    # Through the real consume loop: the first delivery blips, JetStream redelivers,
    # the second delivery exports; the job sees one completion and no failure.
    exporter = BlippingExporter(storage, blips=1)
    handlers = _handlers(bus, storage, pool, exporter)
    stop = asyncio.Event()
    consuming = asyncio.create_task(
        bus.consume(SPEC, {ExportRequested: handlers.on_export_requested}, stop)
    )
    try:
        await bus.publish(_export_requested("job-redelivered"))
        follow_ups = await eventually(
            lambda: _follow_ups(nats_server.url, "job-redelivered"), timeout_s=20
        )
    finally:
        stop.set()
        await asyncio.wait_for(consuming, 10)
    assert exporter.calls == 2
    assert [type(e.data) for e in follow_ups] == [RenderCompleted]
    completed = follow_ups[0].data
    assert isinstance(completed, RenderCompleted) and completed.export_id == "exp-1"
    assert completed.outputs[0].kind == "export"
