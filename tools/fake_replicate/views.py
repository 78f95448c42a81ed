"""Prediction endpoints: create (three paths), get, cancel, list, stream."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import urllib.parse
from datetime import datetime
from typing import Any

from aiohttp import web

from tools.fake_replicate import problems
from tools.fake_replicate.catalog import MODELS, ModelSpec, find_version
from tools.fake_replicate.inputs import InputInvalid, InvalidField, validate_input
from tools.fake_replicate.lifecycle import data_uri
from tools.fake_replicate.records import PredictionRecord
from tools.fake_replicate.state import STATE, TOKEN, FakeState
from tools.fake_replicate.webhooks import ALL_EVENTS, DEFAULT_EVENTS

MAX_WAIT_S = 60
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )


def _invalid(problems_found: list[InvalidField]) -> web.Response:
    error = InputInvalid(problems_found)
    return problems.problem(
        422,
        "Input validation failed",
        error.detail,
        invalid_fields=[p.as_json() for p in error.problems],
    )


def parse_prefer(header: str | None) -> tuple[float, str] | None:
    """(seconds to hold, the preference as applied) for `Prefer: wait` / `wait=N`."""
    for part in (header or "").replace(";", ",").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() != "wait":
            continue
        if not value:
            return MAX_WAIT_S, "wait"
        try:
            seconds = int(value.strip())
        except ValueError:
            return None
        seconds = max(1, min(MAX_WAIT_S, seconds))
        return seconds, f"wait={seconds}"
    return None


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration ("30s", "1m", "1h30m45s"); None if it is not one."""
    text = text.strip()
    parts = DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * UNIT_SECONDS[unit] for number, unit in parts)


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return problems.problem(400, "Bad request", "The request body is not valid JSON")
    if not isinstance(body, dict):
        return problems.problem(400, "Bad request", "The request body must be a JSON object")
    return body


def _webhook_params(body: dict[str, Any]) -> tuple[str | None, frozenset[str], str | None]:
    webhook, completed = body.get("webhook"), body.get("webhook_completed")
    for name, value in (("webhook", webhook), ("webhook_completed", completed)):
        if value is not None and not (
            isinstance(value, str) and value.startswith(("https://", "http://"))
        ):
            raise InputInvalid([InvalidField("format", name, "Does not match format 'uri'")])
    events = body.get("webhook_events_filter")
    if events is None:
        return webhook, DEFAULT_EVENTS, completed
    if not isinstance(events, list) or not set(events) <= ALL_EVENTS:
        raise InputInvalid(
            [
                InvalidField(
                    "enum",
                    "webhook_events_filter",
                    'webhook_events_filter items must be one of "start", "output", "logs", '
                    '"completed"',
                )
            ]
        )
    return webhook, frozenset(events), completed


async def _hold(record: PredictionRecord, seconds: float) -> bool:
    """Wait until the prediction is done (or, for the sync quirk, its output exists)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not (record.terminal or (record.plan.sync_processing and record.output_complete)):
        changed = record.changed
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        try:
            await asyncio.wait_for(changed.wait(), remaining)
        except TimeoutError:
            return False
    return True


def _sync_body(state: FakeState, record: PredictionRecord, url: str, done: bool) -> dict[str, Any]:
    body = record.as_json(url)
    if not done:
        # The real API answers a timed-out wait with `starting` even while the model runs.
        body["status"] = state.faults.sync_timeout_status
        body["output"] = None
    elif state.config.data_uri_outputs == "sync" and record.files:
        blobs = [state.store.outputs.get(path) for path in record.files]
        uris = [data_uri(blob) for blob in blobs if blob is not None]
        if uris:
            body["output"] = uris if record.spec.output == "uri_list" else uris[0]
    return body


async def _create(
    request: web.Request, spec: ModelSpec, body: dict[str, Any], deployment: str | None = None
) -> web.Response:
    state = request.app[STATE]
    raw_input = body.get("input")
    if raw_input is None:
        return _invalid([InvalidField("required", "(root)", "input is required")])
    try:
        values = validate_input(spec, raw_input, state.config.data_url_max_bytes)
        webhook, events, completed = _webhook_params(body)
    except InputInvalid as e:
        return _invalid(e.problems)
    cancel_after = None
    if (header := request.headers.get("Cancel-After")) is not None:
        cancel_after = parse_duration(header)
        if cancel_after is None or cancel_after < 5:
            return problems.problem(
                400, "Bad request", "Cancel-After must be a duration of at least 5s, e.g. 30s"
            )
    prefer = parse_prefer(request.headers.get("Prefer"))
    record = state.engine.create(
        spec,
        raw_input,
        values,
        request[TOKEN],
        sync=prefer is not None,
        deployment=deployment,
        webhook=webhook,
        webhook_events=events,
        webhook_completed=completed,
        cancel_after_s=cancel_after,
    )
    url = base_url(request)
    headers = {"Location": f"{url}/v1/predictions/{record.id}"}
    if prefer is None:
        return json_response(record.as_json(url, brief=True), 201, headers)
    seconds, applied = prefer
    done = await _hold(record, seconds * state.config.max_wait_scale)
    headers["Preference-Applied"] = applied
    return json_response(_sync_body(state, record, url, done), 201, headers)


async def create_version(request: web.Request) -> web.Response:
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    version = body.get("version")
    spec = find_version(version) if isinstance(version, str) else None
    if spec is None:
        return problems.invalid_version()
    return await _create(request, spec, body)


async def create_model(request: web.Request) -> web.Response:
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    spec = MODELS.get(f"{request.match_info['owner']}/{request.match_info['name']}")
    if spec is None:
        return problems.not_found("The requested model does not exist")
    if not spec.official:
        return problems.problem(
            422,
            "Invalid version or not permitted",
            "This model is not an official model: create predictions for it with a version",
        )
    return await _create(request, spec, body)


async def create_deployment(request: web.Request) -> web.Response:
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    name = f"{request.match_info['owner']}/{request.match_info['name']}"
    model = request.app[STATE].config.deployments.get(name)
    if model is None or model not in MODELS:
        return problems.not_found("The requested deployment does not exist")
    return await _create(request, MODELS[model], body, deployment=name)


def _record(request: web.Request) -> PredictionRecord | None:
    return request.app[STATE].engine.predictions.get(request.match_info["id"])


async def get_prediction(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.counters.gets += 1
    record = _record(request)
    if record is None or record.token != request[TOKEN]:
        return problems.not_found()
    record.get_count += 1
    return json_response(record.as_json(base_url(request)))


async def cancel_prediction(request: web.Request) -> web.Response:
    record = _record(request)
    if record is None or record.token != request[TOKEN]:
        return problems.not_found()
    request.app[STATE].engine.cancel(record)
    return json_response(record.as_json(base_url(request)))


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _after_cursor(cursor: str) -> int | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return int(base64.urlsafe_b64decode(padded).decode().removeprefix("seq:"))
    except ValueError:
        return None


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


async def list_predictions(request: web.Request) -> web.Response:
    state = request.app[STATE]
    query = request.query
    before_seq = None
    if (cursor := query.get("cursor")) and (before_seq := _after_cursor(cursor)) is None:
        return problems.problem(400, "Bad request", "Invalid cursor")
    try:
        after, before = _instant(query.get("created_after")), _instant(query.get("created_before"))
    except ValueError:
        return problems.problem(400, "Bad request", "created_after/created_before: ISO 8601")
    rows = sorted(
        (
            r
            for r in state.engine.predictions.values()
            if r.token == request[TOKEN]
            and (before_seq is None or r.seq < before_seq)
            and (after is None or r.created_at > after)
            and (before is None or r.created_at < before)
        ),
        key=lambda r: r.seq,
        reverse=True,
    )
    page = rows[: state.config.page_size]
    url = base_url(request)
    next_url = None
    if len(rows) > len(page):
        next_query = {k: v for k, v in query.items() if k != "cursor"}
        next_query["cursor"] = _cursor(page[-1].seq)
        next_url = f"{url}/v1/predictions?{urllib.parse.urlencode(next_query)}"
    return json_response(
        {"previous": None, "next": next_url, "results": [r.as_json(url) for r in page]}
    )


def _sse(event: str, data: str, event_id: int) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\nid: {event_id}\n{lines}\n".encode()


async def stream_prediction(request: web.Request) -> web.StreamResponse:
    """SSE of an LLM's output chunks: `output` events, then `error` if it failed, `done`."""
    record = _record(request)
    if record is None or record.token != request[TOKEN] or record.spec.kind != "llm":
        return problems.not_found()
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    sent, event_id = 0, 0
    while True:
        changed = record.changed
        chunks = record.output or []
        for chunk in chunks[sent:]:
            event_id += 1
            await response.write(_sse("output", chunk, event_id))
        sent = max(sent, len(chunks))
        if record.terminal:
            break
        await changed.wait()
    if record.status == "failed":
        event_id += 1
        await response.write(_sse("error", record.error or "", event_id))
    event_id += 1
    done = "{}" if record.status == "succeeded" else json.dumps({"reason": record.status})
    await response.write(_sse("done", done, event_id))
    await response.write_eof()
    return response
