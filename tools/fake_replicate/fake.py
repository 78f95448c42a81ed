"""`FakeReplicate`: the fake server as an object a test (or `__main__`) starts and stops."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tools.fake_replicate.config import FakeConfig, Faults
from tools.fake_replicate.records import PredictionRecord
from tools.fake_replicate.server import init_app
from tools.fake_replicate.state import FakeState
from tools.fake_replicate.transport import DeliveryTransport


class FakeReplicate:
    """Example:
    fake = FakeReplicate(FakeConfig(token="r8_test", latency_scale=0.01))
    base_url = await fake.start()
    client = replicate.Client(api_token="r8_test", base_url=base_url,
                              transport=fake.delivery_transport())
    ...
    await fake.stop()
    """

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self.state = FakeState(self.config)
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on `host:port` (0 = any free port); the base URL, without `/v1`."""
        self._runner = web.AppRunner(init_app(self.state), handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.base_url = f"http://{shown}:{bound}"
        self.state.set_base_url(self.base_url)
        return self.base_url

    async def stop(self) -> None:
        await self.state.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeReplicate:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def set_faults(self, faults: Faults) -> None:
        self.state.faults = faults

    @property
    def faults(self) -> Faults:
        return self.state.faults

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    @property
    def predictions(self) -> dict[str, PredictionRecord]:
        return self.state.engine.predictions

    def reset(self) -> None:
        self.state.reset()

    def delivery_transport(self) -> DeliveryTransport:
        """An httpx transport (sync and async) that serves replicate.delivery URLs from here."""
        return DeliveryTransport(self.base_url)
