"""Billing service. Until pricing and the ledger land it joins the topology, connects to
NATS, declares the streams and answers health checks, so `make run` is the real shape."""

from __future__ import annotations

import asyncio

from shared.service import run_service, worker_runtime
from shared.settings import Settings


async def serve(
    settings: Settings, stop: asyncio.Event | None = None, handle_signals: bool = True
) -> None:
    async with worker_runtime(settings, stop, handle_signals) as runtime:
        await runtime.stop.wait()


if __name__ == "__main__":
    run_service(serve, "billing")
