"""`GET /openapi.json`: a valid OpenAPI 3.1 document of exactly the routes the gateway
serves, whose schemas the real answers match."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from services.gateway.contract.document import build_document, documented_routes
from services.gateway.contract.operations import operation_of
from tests.contracts.openapi_support import assert_matches, operations, validator
from tests.support.system import System

JOB = "/api/v2/jobs/{job_id}"
# File answers with no body by HTTP's own rules (aiohttp's FileResponse).
BODYLESS_4XX = {"412", "416"}


def test_document_is_valid_openapi_3_1(openapi: dict[str, Any]) -> None:
    # The generated document passes the OpenAPI 3.1 validator, all $refs included.
    assert openapi["openapi"] == "3.1.0"
    validate(openapi, cls=OpenAPIV31SpecValidator)
    # Every schema is valid JSON Schema 2020-12 (the dialect of OpenAPI 3.1).
    for schema in openapi["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_route_is_documented_and_every_documented_route_exists(
    app: web.Application, openapi: dict[str, Any]
) -> None:
    # What the router serves, from aiohttp itself (the HEAD twin of each GET aside).
    served = set()
    routes = list(app.router.routes())
    with_get = {id(r.resource) for r in routes if r.method == "GET"}
    for route in routes:
        if route.method == "HEAD" and id(route.resource) in with_get:
            continue
        served.add((route.method.lower(), route.resource.canonical))
        assert operation_of(route.handler) or isinstance(route.resource, web.StaticResource), (
            f"{route.method} {route.resource.canonical}: {route.handler.__name__} has no @operation"
        )
    documented = {(method, path) for path, method, _ in operations(openapi)}
    assert served == documented
    # Each operation says what it does and answers at least one success.
    ids = set()
    for path, method, op in operations(openapi):
        assert not op.get("x-undocumented"), (method, path)
        assert op["summary"] and op["tags"], (method, path)
        assert any(status[0] in "23" for status in op["responses"]), (method, path)
        ids.add(op["operationId"])
    assert len(ids) == len(documented)


def test_path_parameters_match_the_router(openapi: dict[str, Any]) -> None:
    # Every {name} in a path is a required path parameter, and nothing else is.
    for path, method, op in operations(openapi):
        in_path = {p["name"] for p in op.get("parameters", ()) if p["in"] == "path"}
        assert in_path == set(_placeholders(path)), (method, path)
        assert all(p["required"] for p in op.get("parameters", ()) if p["in"] == "path")


def test_links_name_real_operations_and_their_parameters(openapi: dict[str, Any]) -> None:
    by_id = {op["operationId"]: op for _, _, op in operations(openapi)}
    links = 0
    for path, method, op in operations(openapi):
        for status, response in op["responses"].items():
            for link in response.get("links", {}).values():
                target = by_id[link["operationId"]]
                names = {p["name"] for p in target.get("parameters", ())}
                assert set(link["parameters"]) <= names, (method, path, status, link)
                links += 1
    assert links >= 9  # a new job leads to its own operations


def _placeholders(path: str) -> list[str]:
    return [part.split("}")[0] for part in path.split("{")[1:]]


def test_bearer_scheme_matches_what_the_middleware_enforces(
    app: web.Application, openapi: dict[str, Any]
) -> None:
    scheme = openapi["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert openapi["security"] == [{"bearerAuth": []}]
    # The document demands a token exactly where the auth middleware checks one.
    public_api = {"/api/v2/dev/token"}
    for path, method, op in operations(openapi):
        needs_token = path.startswith("/api/") and path not in public_api
        schemes = {name for requirement in op["security"] for name in requirement}
        assert ("bearerAuth" in schemes) == needs_token, (method, path)
        if needs_token:
            assert "401" in op["responses"], (method, path)
    # The routes that must work without a token are documented as public.
    public = {(r.method, r.path) for r in documented_routes(app) if not r.operation.auth}
    assert {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/healthz")} <= public


def test_every_4xx_answers_the_error_schema(openapi: dict[str, Any]) -> None:
    error = openapi["components"]["schemas"]["Error"]
    info = openapi["components"]["schemas"]["ErrorInfo"]
    assert error["required"] == ["error"]
    assert set(info["required"]) == {"code", "message", "details"}
    for path, method, op in operations(openapi):
        for status, response in op["responses"].items():
            if not status.startswith("4"):
                continue
            if status in BODYLESS_4XX:
                assert "content" not in response, (method, path, status)
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
        if "requestBody" in op and "application/json" in op["requestBody"]["content"]:
            assert {"400", "413", "422"} <= set(op["responses"]), (method, path)


def test_request_bodies_have_examples_their_models_accept(
    app: web.Application, openapi: dict[str, Any]
) -> None:
    models = {(r.method.lower(), r.path): r.operation for r in documented_routes(app)}
    bodies = 0
    for path, method, op in operations(openapi):
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            media = content["application/json"]
            assert "example" in media, f"{method.upper()} {path} has no request example"
            # The example is valid for the documented schema and for the view's model.
            validator(openapi, media["schema"]).validate(media["example"])
            meta = models[(method, path)]
            assert meta is not None and meta.request is not None
            meta.request.model_validate(media["example"])
            bodies += 1
        if "multipart/form-data" in content:
            form = content["multipart/form-data"]
            name = form["schema"]["$ref"].rsplit("/", 1)[-1]
            file_field = openapi["components"]["schemas"][name]["properties"]["file"]
            assert file_field["format"] == "binary"
            assert form["encoding"]["file"]["contentType"] == "application/octet-stream"
    assert bodies >= 4  # jobs, storyboard edit, refine, export, estimate


async def test_served_document_needs_no_token_and_equals_the_generated_one(
    system: System,
) -> None:
    # /openapi.json answers without a token, and is the document of the running app.
    async with system.http.get(system.base_url + "/openapi.json") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        served = json.loads(await response.read())
    assert served == json.loads(json.dumps(build_document(system.app)))


async def test_real_answers_match_their_documented_schemas(system: System) -> None:
    doc = build_document(system.app)
    brief = {
        "campaign_id": "contract",
        "prompt": "Introducing Glow Serum. Brightens skin in 7 days.",
        "platform": "instagram_feed",
        "duration_s": 10,
    }

    # A created job: 202 with the job and its Location.
    status, job, response = await system.call("POST", "/api/v2/jobs", json=brief)
    assert status == 202
    assert_matches(doc, "/api/v2/jobs", "post", 202, job)
    assert response.headers["Location"] == f"/api/v2/jobs/{job['id']}"
    assert "Location" in doc["paths"]["/api/v2/jobs"]["post"]["responses"]["202"]["headers"]

    # Polled: 200 with an ETag, then 304 for the same ETag.
    status, polled, response = await system.call("GET", f"/api/v2/jobs/{job['id']}")
    assert status == 200
    assert_matches(doc, JOB, "get", 200, polled)
    etag = response.headers["ETag"]
    status, body, _ = await system.call(
        "GET", f"/api/v2/jobs/{job['id']}", headers={"If-None-Match": etag}
    )
    assert status == 304 and body == b""
    assert "304" in doc["paths"][JOB]["get"]["responses"]

    # With its storyboard (scenes, frame URLs, nullable fields filled or null).
    ready = await system.wait_status(job["id"], "storyboard_ready")
    assert_matches(doc, JOB, "get", 200, ready)
    status, page, _ = await system.call("GET", "/api/v2/jobs?limit=5")
    assert status == 200
    assert_matches(doc, "/api/v2/jobs", "get", 200, page)
    status, frame, response = await system.call(
        "GET", ready["storyboard"]["scenes"][0]["image_url"]
    )
    assert status == 200 and response.content_type == "image/jpeg" and frame[:2] == b"\xff\xd8"
    assert (
        "image/jpeg"
        in doc["paths"][f"{JOB}/storyboard/{{n}}.jpg"]["get"]["responses"]["200"]["content"]
    )

    # Edited and approved: the job again.
    status, edited, _ = await system.call(
        "PATCH",
        f"/api/v2/jobs/{job['id']}/storyboard",
        json={"scenes": [{"index": 1, "caption": "Glow"}]},
    )
    assert status == 200
    assert_matches(doc, f"{JOB}/storyboard", "patch", 200, edited)
    # null (the schema allows it) leaves a scene's text as it is.
    status, edited, _ = await system.call(
        "PATCH",
        f"/api/v2/jobs/{job['id']}/storyboard",
        json={"scenes": [{"index": 1, "caption": None, "script": None, "duration_s": None}]},
    )
    assert status == 200, edited
    assert edited["storyboard"]["scenes"][0]["caption"] == "Glow"

    # Errors: 422 (invalid brief), 400 (bad query), 404 (unknown job), 401 (no token),
    # 409 (approve twice): each in the documented error shape.
    status, error, _ = await system.call("POST", "/api/v2/jobs", json={**brief, "duration_s": 99})
    assert status == 422
    assert_matches(doc, "/api/v2/jobs", "post", 422, error)
    assert error["error"]["details"][0]["field"] == "duration_s"
    status, error, _ = await system.call("GET", "/api/v2/jobs?limit=0")
    assert status == 400 and "limit" in error["error"]["message"]
    assert_matches(doc, "/api/v2/jobs", "get", 400, error)
    status, error, _ = await system.call("GET", "/api/v2/jobs/nope")
    assert status == 404
    assert_matches(doc, JOB, "get", 404, error)
    async with system.http.get(f"{system.base_url}/api/v2/jobs/{job['id']}") as response:
        assert response.status == 401
        assert_matches(doc, JOB, "get", 401, await response.json())
    status, _, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/approve")
    status, error, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/approve")
    assert status == 409
    assert_matches(doc, f"{JOB}/approve", "post", 409, error)

    # Server-sent events are documented as such.
    async with system.http.get(
        f"{system.base_url}/api/v2/jobs/{job['id']}/events", headers=system.auth()
    ) as response:
        assert response.status == 200 and response.content_type == "text/event-stream"
        first = await response.content.readuntil(b"\n\n")
    assert first.startswith(b"event: job\ndata: ")
    # The documented event: its name, and its data is the job.
    event = {"event": "job", "data": first.split(b"data: ", 1)[1].strip().decode()}
    stream = doc["paths"][f"{JOB}/events"]["get"]["responses"]["200"]["content"]
    validator(doc, stream["text/event-stream"]["schema"]).validate(event)
    data_schema = stream["text/event-stream"]["schema"]["properties"]["data"]["contentSchema"]
    validator(doc, data_schema).validate(json.loads(event["data"]))

    # Health and readiness, without a token.
    for path in ("/healthz", "/readyz"):
        async with system.http.get(system.base_url + path) as response:
            assert response.status == 200
            assert_matches(doc, path, "get", 200, await response.json())
