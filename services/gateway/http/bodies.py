"""Reading a JSON request body into a validated model, with the project's errors."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.gateway.http.errors import ApiError, invalid

M = TypeVar("M", bound=BaseModel)


async def read_body(request: web.Request, model: type[M]) -> M:
    raw = await request.read()
    try:
        # Strict: `true` is a boolean and `1` an integer, as the OpenAPI document says;
        # lax coercion (`0` as false, `1.0` as 1) would accept what the contract refuses.
        return model.model_validate_json(raw or b"{}", strict=True)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise ApiError("request body is not valid JSON") from None
        raise invalid(exc) from None


def model_response(model: BaseModel, status: int = 200) -> web.Response:
    """A JSON answer serialised by its response model (the one the OpenAPI document names)."""
    return web.Response(
        body=model.model_dump_json(), status=status, content_type="application/json"
    )
