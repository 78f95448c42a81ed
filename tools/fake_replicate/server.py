"""The aiohttp application: routes of the Replicate API the fake speaks, and its controls."""

from __future__ import annotations

from aiohttp import web

from tools.fake_replicate import resources, views
from tools.fake_replicate.middlewares import api_gate, count_requests
from tools.fake_replicate.state import STATE, FakeState

MAX_BODY_BYTES = 256 * 1024 * 1024


def init_app(state: FakeState) -> web.Application:
    app = web.Application(middlewares=[count_requests, api_gate], client_max_size=MAX_BODY_BYTES)
    app[STATE] = state
    route = app.router
    route.add_post("/v1/predictions", views.create_version, name="create_version")
    route.add_post("/v1/models/{owner}/{name}/predictions", views.create_model, name="create_model")
    route.add_post(
        "/v1/deployments/{owner}/{name}/predictions",
        views.create_deployment,
        name="create_deployment",
    )
    route.add_get("/v1/predictions", views.list_predictions)
    route.add_get("/v1/predictions/{id}", views.get_prediction)
    route.add_post("/v1/predictions/{id}/cancel", views.cancel_prediction)
    route.add_get("/v1/stream/{id}", views.stream_prediction)
    route.add_get("/v1/models/{owner}/{name}", resources.get_model)
    route.add_get("/v1/models/{owner}/{name}/versions", resources.list_versions)
    route.add_get("/v1/models/{owner}/{name}/versions/{version}", resources.get_version)
    route.add_get("/v1/webhooks/default/secret", resources.webhook_secret)
    route.add_post("/v1/files", resources.upload_file)
    route.add_get("/v1/files", resources.list_files)
    route.add_get("/v1/files/{id}", resources.get_file)
    route.add_delete("/v1/files/{id}", resources.delete_file)
    route.add_get("/v1/files/{id}/download", resources.download_file)
    route.add_get("/xezq/{id}/{file}", resources.deliver_output)
    route.add_get("/_fake/stats", resources.control_stats)
    route.add_get("/_fake/faults", resources.control_get_faults)
    route.add_post("/_fake/faults", resources.control_set_faults)
    route.add_post("/_fake/reset", resources.control_reset)
    route.add_get("/_fake/predictions/{id}", resources.control_prediction)
    return app
