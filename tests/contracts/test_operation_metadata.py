"""The middlewares act on the `@operation` metadata of the view a request is routed to
(no path strings): these are the operations each one applies to, read from the real
router, so adding a route without its metadata, or losing one, fails here."""

from __future__ import annotations

from aiohttp import web

from services.gateway.contract.operations import Operation, operation_of


def _operations(app: web.Application) -> dict[tuple[str, str], Operation]:
    found = {}
    for route in app.router.routes():
        op = operation_of(route.handler)
        if route.method != "HEAD" and route.resource is not None and op is not None:
            found[(route.method, route.resource.canonical)] = op
    return found


def test_every_route_declares_its_operation(app: web.Application) -> None:
    undeclared = [
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD"
        and route.resource is not None
        and operation_of(route.handler) is None
    ]
    assert undeclared == []


def test_idempotency_keys_apply_to_the_posts_that_create_something(
    app: web.Application,
) -> None:
    idempotent = {key for key, op in _operations(app).items() if op.idempotent}
    assert idempotent == {
        ("POST", "/api/v2/jobs"),
        ("POST", "/api/v2/jobs/{job_id}/render"),
        ("POST", "/api/v2/jobs/{job_id}/exports"),
        ("POST", "/api/v2/jobs/{job_id}/retry"),
        ("POST", "/api/v2/upload-asset"),
        ("POST", "/api/v2/assets"),
    }
    uploads = {key for key, op in _operations(app).items() if op.uploads}
    assert uploads == {("POST", "/api/v2/upload-asset"), ("POST", "/api/v2/assets")}


def test_admission_guards_the_requests_that_put_jobs_before_the_workers(
    app: web.Application,
) -> None:
    admitted = {key: op.admission for key, op in _operations(app).items() if op.admission}
    assert admitted == {
        ("POST", "/api/v2/jobs"): "create",
        ("POST", "/api/v2/jobs/{job_id}/render"): "enqueue",
        ("POST", "/api/v2/jobs/{job_id}/retry"): "enqueue",
    }


def test_only_the_hot_read_paths_and_the_long_lived_stream_go_untraced(
    app: web.Application,
) -> None:
    untraced = {key for key, op in _operations(app).items() if not op.traced}
    assert untraced == {
        ("GET", "/api/v2/jobs/{job_id}"),
        ("GET", "/api/v2/jobs/{job_id}/events"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
    }


def test_tokens_are_required_under_the_api_but_for_the_development_login(
    app: web.Application,
) -> None:
    public_api = {
        key for key, op in _operations(app).items() if key[1].startswith("/api/") and not op.auth
    }
    assert public_api == {("POST", "/api/v2/dev/token")}
    outside = {key for key, op in _operations(app).items() if not key[1].startswith("/api/")}
    assert all(not _operations(app)[key].auth for key in outside)


def test_media_tokens_are_taken_only_by_the_files_a_browser_element_fetches(
    app: web.Application,
) -> None:
    media = {key for key, op in _operations(app).items() if op.media_token}
    job = "/api/v2/jobs/{job_id}"
    assert media == {
        ("GET", f"{job}/video"),
        ("GET", f"{job}/poster.jpg"),
        ("GET", f"{job}/captions.vtt"),
        ("GET", f"{job}/captions.srt"),
        ("GET", f"{job}/contact-sheet.jpg"),
        ("GET", f"{job}/exports/{{name}}"),
        ("GET", f"{job}/storyboard/{{n}}.jpg"),
        ("GET", f"{job}/checks/{{name}}"),
        ("GET", "/api/v2/assets/{asset_id}/content"),
        ("GET", "/api/v2/assets/{asset_id}/thumbnail.jpg"),
    }
