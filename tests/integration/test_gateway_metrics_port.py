"""The gateway's /metrics off the public port: with METRICS_PORT set (every deployment sets
it) the API port answers 404 for /metrics and the metrics port serves the scrape; without
it (`make run`) the API port keeps serving it."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.nats_server import NatsServer, free_port
from tests.support.system import System, gateway_alone


async def test_with_a_metrics_port_the_api_port_has_no_metrics(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    metrics_port = free_port()
    async with gateway_alone(
        nats_server.url,
        tmp_path,
        metrics_port=metrics_port,
    ) as system:
        # The API port: probes as before, /metrics unknown (JSON 404, like any unknown path).
        for path in ("/healthz", "/readyz"):
            async with system.http.get(system.base_url + path) as response:
                assert response.status == 200, path
        async with system.http.get(system.base_url + "/metrics") as response:
            assert response.status == 404
            assert (await response.json())["error"]["code"] == "not_found"
        # The API's own traffic is still measured: the scrape on the metrics port shows it.
        async with system.http.get(f"http://127.0.0.1:{metrics_port}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
        names = {family.name for family in text_string_to_metric_families(text)}
        assert "reelsmith_http_requests" in names
        assert 'route="/healthz"' in text
        # Nothing but the scrape there: the metrics port is no second way into the API.
        for path in ("/healthz", "/api/v2/jobs", "/openapi.json"):
            async with system.http.get(f"http://127.0.0.1:{metrics_port}{path}") as response:
                assert response.status == 404, path
        # The published contract no longer lists it.
        async with system.http.get(system.base_url + "/openapi.json") as response:
            assert "/metrics" not in (await response.json())["paths"]


async def test_without_a_metrics_port_the_api_port_serves_them(system: System) -> None:
    # `make run` and the in-process system: METRICS_PORT unset (0), one port for everything.
    assert system.settings.metrics_port == 0
    async with system.http.get(system.base_url + "/metrics") as response:
        assert response.status == 200
        assert "reelsmith_http_requests" in await response.text()
    async with system.http.get(system.base_url + "/openapi.json") as response:
        assert "/metrics" in (await response.json())["paths"]
