"""The OpenAPI 3.1 document, generated from the application's own router and the
`@operation` metadata of each view (with the pydantic models it names).

Walking the router rather than a list kept by hand means a route cannot exist without
appearing in the document; a view without `@operation` appears marked
`x-undocumented` (and the contract tests fail on it).

Example::

    document = build_document(app)          # a dict; json.dumps it
    assert "/api/v2/jobs" in document["paths"]
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema

from services.gateway.contract.operations import (
    ERROR,
    EventStream,
    Header,
    Operation,
    Response,
    operation_of,
)
from services.gateway.contract.schemas import Error

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "bearerAuth"
MEDIA_TOKEN_SCHEME = "mediaToken"
JSON = "application/json"
# What a path parameter is, when the operation does not say.
PATH_PARAMS = {
    "job_id": "The job's id (as returned by `POST /api/v2/jobs`).",
    "n": "Scene index, 1-based.",
    "asset_id": "The asset's id (as returned by the upload).",
    "name": "The file's name.",
    "filename": "The file's name.",
}
STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted: the work goes on in the background",
    204: "No content",
    206: "Partial content: the requested byte range",
    304: "Not modified: the ETag in If-None-Match still matches",
    400: "Bad request: malformed JSON body or query parameter",
    401: "Missing, malformed or expired bearer token",
    403: "Forbidden",
    404: "Not found (another client's resource is not found either)",
    405: "Method not allowed",
    409: "Conflict with the resource's current state",
    412: "Precondition failed (If-Match / If-Unmodified-Since)",
    413: "Body too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    422: "Validation error: `details` names each offending field",
    429: "Daily budget exhausted: paid work resumes after UTC midnight (see Retry-After)",
    502: "A service behind the gateway failed",
    503: "A service behind the gateway is unavailable; retry shortly",
}
TAGS = {
    "jobs": "Briefs, storyboards, review and rendering: the job lifecycle.",
    "media": "Finished videos, posters, exports and storyboard frames (binary).",
    "assets": "Uploaded images, logos, fonts, audio and video.",
    "billing": "Estimates and spend.",
    "ops": "Health, readiness and metrics (no token).",
    "docs": "This document and its viewer (no token).",
}
MEDIA_TOKEN_DESCRIPTION = (
    "A media token from `POST /api/v2/media-token` in the query string, for URLs a browser "
    "loads itself (`<video>`, `<img>`, downloads): accepted only on GET of media, for an hour "
    "at most. It is not a bearer token."
)
SECURITY_DESCRIPTION = (
    "`Authorization: Bearer <JWT>`: a token from the deployment's identity provider (RS256 "
    "or ES256, verified against `AUTH_JWKS_URL`, with its `AUTH_ISSUER` and `AUTH_AUDIENCE`) "
    "or, for development and services, HS256 signed with `JWT_SECRET`. Claims: the client "
    "id (`sub` unless `AUTH_CLIENT_ID_CLAIM` says otherwise), the role (`role`, or "
    "`AUTH_ROLE_CLAIM`: `admin` or a list holding it is an admin, anything else a client), "
    "`exp`. A client sees only its own jobs and assets; an admin sees every client's."
)
DESCRIPTION = (
    "The HTTP API of Reelsmith's gateway: submit a brief, follow the storyboard, review and "
    "refine it, approve it, render it, download the videos. Every error is JSON "
    '`{"error": {"code", "message", "details"}}`. Events behind the API are described in '
    "`docs/asyncapi.yaml`."
)


# `app.router.add_static` directories have no view to decorate.
STATIC_FILE = Operation(
    summary="A static file",
    tags=("static",),
    responses={200: "*/*", 304: None, 403: ERROR, 404: ERROR},
    auth=False,
)


class _Schemas(GenerateJsonSchema):
    """A response model lists every field it serialises as required (pydantic's default
    marks fields with defaults optional, which a response never omits)."""

    def field_is_required(self, field: Any, total: bool) -> bool:
        if self.mode == "serialization" and field["type"] != "typed-dict-field":
            return field.get("serialization_exclude_if") is None
        return super().field_is_required(field, total)


@dataclass(frozen=True)
class DocumentedRoute:
    method: str
    path: str  # OpenAPI template: /api/v2/jobs/{job_id}
    handler: Any
    operation: Operation | None
    path_params: Mapping[str, str]  # name -> the router's regex


def documented_routes(app: web.Application) -> list[DocumentedRoute]:
    """Every route of `app`, except the HEAD twin aiohttp adds to each GET."""
    routes = list(app.router.routes())
    with_get = {id(route.resource) for route in routes if route.method == "GET"}
    found = []
    for route in routes:
        if route.method == "HEAD" and id(route.resource) in with_get:
            continue
        path, params = _template(route.resource)
        meta = operation_of(route.handler)
        if meta is None and isinstance(route.resource, web.StaticResource):
            meta = STATIC_FILE
        found.append(DocumentedRoute(route.method, path, route.handler, meta, params))
    return found


def _template(resource: Any) -> tuple[str, dict[str, str]]:
    info = resource.get_info() if resource is not None else {}
    if "prefix" in info:  # a static directory
        return info["prefix"].rstrip("/") + "/{filename}", {"filename": ".+"}
    if "formatter" in info:
        return info["formatter"], dict(_named_groups(info["pattern"].pattern))
    return info.get("path", resource.canonical), {}


def _named_groups(pattern: str) -> Iterator[tuple[str, str]]:
    """`(?P<name>regex)` groups of a route pattern, with nested parentheses."""
    for match in re.finditer(r"\(\?P<(\w+)>", pattern):
        depth, index = 1, match.end()
        while depth:
            char = pattern[index]
            if char == "\\":
                index += 2
                continue
            depth += {"(": 1, ")": -1}.get(char, 0)
            index += 1
        yield match.group(1), pattern[match.end() : index - 1]


def build_document(app: web.Application) -> dict[str, Any]:
    routes = documented_routes(app)
    components = _Components(routes)
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    used_tags: list[str] = []
    for route in routes:
        meta = route.operation
        item = _operation(route, meta, components) if meta else _undocumented(route)
        item["operationId"] = _unique(
            (meta.operation_id if meta else None) or route.handler.__name__, used_ids
        )
        used_tags += [tag for tag in item.get("tags", ()) if tag not in used_tags]
        paths.setdefault(route.path, {})[route.method.lower()] = item
    components.drop_unreferenced_queries(paths)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Reelsmith gateway API", "version": "2.0.0", "description": DESCRIPTION},
        "servers": [{"url": "/", "description": "This gateway"}],
        "tags": [
            {"name": tag, "description": TAGS[tag]} if tag in TAGS else {"name": tag}
            for tag in used_tags
        ],
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "components": {
            "schemas": components.schemas,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": SECURITY_DESCRIPTION,
                },
                MEDIA_TOKEN_SCHEME: {
                    "type": "apiKey",
                    "in": "query",
                    "name": "access_token",
                    "description": MEDIA_TOKEN_DESCRIPTION,
                },
            },
        },
    }


class _Components:
    """Every model the operations name, as JSON Schema 2020-12 under components/schemas:
    request bodies and queries in validation mode, responses in serialization mode."""

    def __init__(self, routes: list[DocumentedRoute]) -> None:
        wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {
            (Error, "serialization"): None
        }
        for route in routes:
            meta = route.operation
            if meta is None:
                continue
            for model in (meta.request, meta.query):
                if model is not None:
                    wanted[(model, "validation")] = None
            for spec in meta.responses.values():
                body = spec.body if isinstance(spec, Response) else spec
                if isinstance(body, EventStream):
                    body = body.data
                if isinstance(body, type) and issubclass(body, BaseModel):
                    wanted[(body, "serialization")] = None
        refs, defs = models_json_schema(list(wanted), ref_template=REF, schema_generator=_Schemas)
        self.refs = {key: value for key, value in refs.items()}
        self.schemas: dict[str, Any] = defs.get("$defs", {})
        self._queries = {
            route.operation.query for route in routes if route.operation and route.operation.query
        }

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(self.refs[(model, mode)])

    def parameters(self, query: type[BaseModel]) -> list[dict[str, Any]]:
        name = self.refs[(query, "validation")]["$ref"].rsplit("/", 1)[-1]
        schema = self.schemas[name]
        required = set(schema.get("required", ()))
        params = []
        for field, prop in schema.get("properties", {}).items():
            prop = _without_null(copy.deepcopy(prop))
            prop.pop("title", None)
            param = {"name": field, "in": "query", "required": field in required}
            if description := prop.pop("description", None):
                param["description"] = description
            param["schema"] = prop
            params.append(param)
        return params

    def drop_unreferenced_queries(self, paths: dict[str, Any]) -> None:
        """Query models became parameters; keep their schema only if something refers to it."""
        names = {
            self.refs[(model, "validation")]["$ref"].rsplit("/", 1)[-1] for model in self._queries
        }
        for name in names:
            others = {key: value for key, value in self.schemas.items() if key != name}
            if REF.format(model=name) not in set(_refs((paths, others))):
                self.schemas.pop(name, None)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _refs(value)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string, never null: drop the null branch."""
    options = schema.get("anyOf")
    if options:
        rest = [option for option in options if option != {"type": "null"}]
        if len(rest) != len(options):
            schema.pop("anyOf")
            if schema.get("default", "") is None:
                schema.pop("default")
            if len(rest) == 1:
                schema = {**rest[0], **schema}
            else:
                schema["anyOf"] = rest
    return schema


def _operation(route: DocumentedRoute, meta: Operation, components: _Components) -> dict[str, Any]:
    item: dict[str, Any] = {"summary": meta.summary}
    if meta.description:
        item["description"] = meta.description
    if meta.tags:
        item["tags"] = list(meta.tags)
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": meta.path_params.get(name) or PATH_PARAMS.get(name, name),
            "schema": _path_schema(regex),
        }
        for name, regex in route.path_params.items()
    ]
    if meta.query is not None:
        parameters += components.parameters(meta.query)
    for name, header in meta.headers.items():
        header = header if isinstance(header, Header) else Header(header)
        parameters.append(
            {
                "name": name,
                "in": "header",
                "required": header.required,
                "description": header.description,
                "schema": dict(header.schema),
            }
        )
    if parameters:
        item["parameters"] = parameters
    if meta.request is not None:
        item["requestBody"] = _request_body(meta, components)
    item["responses"] = _responses(meta, components)
    item["security"] = []
    if meta.auth:
        item["security"].append({SECURITY_SCHEME: []})
    if meta.media_token:
        item["security"].append({MEDIA_TOKEN_SCHEME: []})
    return item


def _path_schema(regex: str) -> dict[str, Any]:
    if regex == r"\d+":
        return {"type": "integer", "minimum": 0}
    if regex in ("[^{}/]+", ".+"):
        return {"type": "string", "minLength": 1}
    return {"type": "string", "pattern": f"^(?:{regex})$"}


def _request_body(meta: Operation, components: _Components) -> dict[str, Any]:
    assert meta.request is not None
    media: dict[str, Any] = {"schema": components.ref(meta.request, "validation")}
    if meta.request_example is not None:
        media["example"] = meta.request_example
    if meta.request_content_type == "multipart/form-data":
        binary = [
            name for name, field in meta.request.model_fields.items() if field.annotation is bytes
        ]
        media["encoding"] = {name: {"contentType": "application/octet-stream"} for name in binary}
    required = any(field.is_required() for field in meta.request.model_fields.values())
    return {"required": required, "content": {meta.request_content_type: media}}


def _responses(meta: Operation, components: _Components) -> dict[str, Any]:
    declared: dict[int, Any] = dict(meta.responses)
    if meta.auth:
        declared.setdefault(401, ERROR)
    if meta.request is not None and meta.request_content_type == JSON:
        for status in (400, 413, 422):
            declared.setdefault(status, ERROR)
    responses = {}
    for status in sorted(declared):
        spec = declared[status]
        if not isinstance(spec, Response):
            spec = Response(spec)
        answer: dict[str, Any] = {
            "description": spec.description or STATUS_TEXT.get(status, str(status))
        }
        if spec.headers:
            answer["headers"] = {
                name: _header(header) for name, header in sorted(spec.headers.items())
            }
        content = _content(spec.body, components)
        if content:
            answer["content"] = content
        if spec.links:
            answer["links"] = {
                target: {"operationId": target, "parameters": dict(parameters)}
                for target, parameters in spec.links.items()
            }
        responses[str(status)] = answer
    return responses


def _header(header: str | Header) -> dict[str, Any]:
    header = header if isinstance(header, Header) else Header(header)
    return {"description": header.description, "schema": dict(header.schema)}


def _content(body: Any, components: _Components) -> dict[str, Any]:
    if body is None:
        return {}
    if body == ERROR:
        return {JSON: {"schema": components.ref(Error, "serialization")}}
    if isinstance(body, type) and issubclass(body, BaseModel):
        return {JSON: {"schema": components.ref(body, "serialization")}}
    if isinstance(body, EventStream):
        return {"text/event-stream": {"schema": _event_schema(body, components)}}
    media_types = (body,) if isinstance(body, str) else tuple(body)
    # Text is a string; binary media (video, images) need no schema in OpenAPI 3.1.
    return {
        media: {"schema": {"type": "string"}} if media.startswith("text/") else {}
        for media in media_types
    }


def _event_schema(stream: EventStream, components: _Components) -> dict[str, Any]:
    """One server-sent event (OpenAPI 3.2's reading of an event stream's schema, which
    tools apply to 3.1 too): its name, and its data as JSON of the model."""
    return {
        "type": "object",
        "properties": {
            "event": {"const": stream.event},
            "data": {
                "type": "string",
                "contentMediaType": JSON,
                "contentSchema": components.ref(stream.data, "serialization"),
            },
            "id": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0},
        },
        "required": ["event", "data"],
    }


def _undocumented(route: DocumentedRoute) -> dict[str, Any]:
    return {
        "summary": f"(undocumented: {route.handler.__name__} has no @operation)",
        "x-undocumented": True,
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": _path_schema(regex)}
            for name, regex in route.path_params.items()
        ],
        "responses": {"default": {"description": "Undocumented"}},
    }


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    while candidate in used:
        candidate, n = f"{name}_{n}", n + 1
    used.add(candidate)
    return candidate
