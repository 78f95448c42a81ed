"""The other endpoints: models and versions, files, the webhook secret, output delivery and
the fake's own control endpoints (`/_fake/...`, no auth)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import BodyPartReader, web
from pydantic import ValidationError

from tools.fake_replicate import problems
from tools.fake_replicate.catalog import MODELS, ModelSpec
from tools.fake_replicate.config import Faults
from tools.fake_replicate.inputs import openapi_schema
from tools.fake_replicate.records import iso
from tools.fake_replicate.state import STATE
from tools.fake_replicate.store import Blob
from tools.fake_replicate.views import base_url, json_response

COG_VERSION = "0.9.23"
VERSION_CREATED_AT = "2024-04-17T21:09:05.312520Z"
SLOW_CHUNK_S = 0.1


def _version_json(spec: ModelSpec) -> dict[str, Any]:
    return {
        "id": spec.version_id or spec.version,
        "created_at": VERSION_CREATED_AT,
        "cog_version": COG_VERSION,
        "openapi_schema": openapi_schema(spec),
    }


def _spec(request: web.Request) -> ModelSpec | None:
    return MODELS.get(f"{request.match_info['owner']}/{request.match_info['name']}")


async def get_model(request: web.Request) -> web.Response:
    if (spec := _spec(request)) is None:
        return problems.not_found("The requested model does not exist")
    engine = request.app[STATE].engine
    return json_response(
        {
            "url": f"https://replicate.com/{spec.ref}",
            "owner": spec.owner,
            "name": spec.name,
            "description": spec.description or f"{spec.name} ({spec.kind})",
            "visibility": "public",
            "is_official": spec.official,
            "github_url": None,
            "paper_url": None,
            "license_url": None,
            "run_count": engine.creates[spec.ref],
            "cover_image_url": None,
            "default_example": None,
            "latest_version": _version_json(spec),
        }
    )


async def get_version(request: web.Request) -> web.Response:
    spec = _spec(request)
    if spec is None or request.match_info["version"] not in (spec.version_id, spec.version):
        return problems.not_found("The requested model version does not exist")
    return json_response(_version_json(spec))


async def list_versions(request: web.Request) -> web.Response:
    if (spec := _spec(request)) is None:
        return problems.not_found("The requested model does not exist")
    return json_response({"next": None, "previous": None, "results": [_version_json(spec)]})


async def webhook_secret(request: web.Request) -> web.Response:
    return json_response({"key": request.app[STATE].config.webhook_secret})


async def upload_file(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if not request.content_type.startswith("multipart/"):
        return problems.problem(400, "Bad request", "Send the file as multipart/form-data")
    fields: dict[str, str] = {}
    content: tuple[str, str, bytes] | None = None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "content":
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            content = (part.filename or "file", content_type, await part.read())
        elif part.name:
            fields[part.name] = await part.text()
    if content is None:
        return problems.problem(422, "Input validation failed", "- content: file is required\n")
    filename, content_type, data = content
    try:
        metadata = json.loads(fields.get("metadata") or "{}")
    except json.JSONDecodeError:
        return problems.problem(422, "Input validation failed", "- metadata: not valid JSON\n")
    upload = state.store.add_upload(
        fields.get("filename") or filename,
        Blob(data, fields.get("type") or content_type),
        metadata,
    )
    return json_response(upload.as_json(base_url(request)), 201)


async def list_files(request: web.Request) -> web.Response:
    uploads = request.app[STATE].store.uploads.values()
    url = base_url(request)
    return json_response(
        {"next": None, "previous": None, "results": [u.as_json(url) for u in uploads]}
    )


async def get_file(request: web.Request) -> web.Response:
    upload = request.app[STATE].store.uploads.get(request.match_info["id"])
    if upload is None:
        return problems.not_found()
    return json_response(upload.as_json(base_url(request)))


async def download_file(request: web.Request) -> web.Response:
    upload = request.app[STATE].store.uploads.get(request.match_info["id"])
    if upload is None:
        return problems.not_found()
    return web.Response(body=upload.blob.data, content_type=upload.blob.content_type)


async def delete_file(request: web.Request) -> web.Response:
    if request.app[STATE].store.uploads.pop(request.match_info["id"], None) is None:
        return problems.not_found()
    return web.Response(status=204)


async def deliver_output(request: web.Request) -> web.StreamResponse:
    """An output file at the path its `https://replicate.delivery/...` URL names."""
    state = request.app[STATE]
    faults, dice = state.faults, state.fault_dice
    if dice.roll(faults.download_429_fraction):
        state.counters.faults_injected["download_429"] += 1
        return problems.throttled(faults.retry_after_s)
    if dice.roll(faults.download_5xx_fraction):
        status = dice.choice(faults.status_5xx)
        state.counters.faults_injected[f"download_{status}"] += 1
        return problems.server_error(status, faults.html_errors)
    blob = state.store.outputs.get(request.path.lstrip("/"))
    if blob is None:
        # Expired or never made; what the real host answers is not documented (a 404 assumed).
        return web.Response(status=404, text="Not Found")
    state.counters.downloads += 1
    rate = faults.slow_download_bytes_per_s
    if not rate:
        return web.Response(body=blob.data, content_type=blob.content_type)
    response = web.StreamResponse(
        headers={"Content-Type": blob.content_type, "Content-Length": str(len(blob.data))}
    )
    await response.prepare(request)
    step = max(1, int(rate * SLOW_CHUNK_S))
    for start in range(0, len(blob.data), step):
        await response.write(blob.data[start : start + step])
        await asyncio.sleep(SLOW_CHUNK_S)
    await response.write_eof()
    return response


async def control_stats(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].stats())


async def control_get_faults(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].faults.model_dump())


async def control_set_faults(request: web.Request) -> web.Response:
    try:
        faults = Faults.model_validate(await request.json())
    except (json.JSONDecodeError, ValidationError) as e:
        return json_response(
            {"error": {"code": "invalid_faults", "message": str(e), "details": {}}}, 422
        )
    request.app[STATE].faults = faults
    return json_response(faults.model_dump())


async def control_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return json_response({"reset": True})


async def control_prediction(request: web.Request) -> web.Response:
    record = request.app[STATE].engine.predictions.get(request.match_info["id"])
    if record is None:
        return json_response({"error": {"code": "not_found", "message": "no such prediction"}}, 404)
    return json_response(
        {
            "id": record.id,
            "model": record.model,
            "status": record.status,
            "create_count": record.create_count,
            "get_count": record.get_count,
            "created_at": iso(record.created_at),
            "completed_at": iso(record.completed_at),
            "fate": record.plan.fate,
        }
    )
