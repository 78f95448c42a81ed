"""Reading the gateway's OpenAPI document in tests: the app it describes, and a JSON
Schema validator for any documented response or request body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator

from services.gateway.app import init_app
from tests.support.system import settings_for

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def gateway_app(root: Path) -> web.Application:
    """The real gateway app, routes registered, never started (no NATS needed)."""
    return init_app(settings_for("nats://127.0.0.1:1", root))


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield path, method, op


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """Validates against `schema`, whose `$ref`s point into the document's components."""
    return Draft202012Validator({**schema, "components": doc["components"]})


def response_schema(doc: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    response = doc["paths"][path][method]["responses"][str(status)]
    return response["content"]["application/json"]["schema"]  # type: ignore[no-any-return]


def assert_matches(doc: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """`body` is valid for the documented `status` answer of `method path`."""
    errors = sorted(
        validator(doc, response_schema(doc, path, method, status)).iter_errors(body),
        key=lambda e: list(e.path),
    )
    assert not errors, f"{method.upper()} {path} {status}: " + "; ".join(
        f"{list(e.path)}: {e.message}" for e in errors[:5]
    )
