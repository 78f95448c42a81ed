"""The API's gate: auth, per-token rate limits, injected faults, rate-limit headers."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from tools.fake_replicate import problems
from tools.fake_replicate.ratelimit import Verdict
from tools.fake_replicate.state import STATE, TOKEN, FakeState

CREATE_ROUTES = frozenset({"create_version", "create_model", "create_deployment"})


def bearer_token(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer <t>` or the older `Token <t>` form."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "token") and token.strip():
        return token.strip()
    return None


def _with_limits(response: web.StreamResponse, verdict: Verdict) -> web.StreamResponse:
    if response.prepared:  # a stream has sent its headers already
        return response
    response.headers["ratelimit-remaining"] = str(verdict.remaining)
    response.headers["ratelimit-reset"] = str(verdict.reset_s)
    return response


def _injected(state: FakeState, is_create: bool, method: str) -> web.Response | None:
    """A fault for this request, if the dice say so."""
    faults, dice = state.faults, state.fault_dice
    if is_create:
        if faults.insufficient_credit:
            return problems.insufficient_credit()
        if dice.roll(faults.create_429_fraction):
            state.counters.faults_injected["create_429"] += 1
            return problems.throttled(faults.retry_after_s)
    elif method == "GET":
        if dice.roll(faults.get_429_fraction):
            state.counters.faults_injected["get_429"] += 1
            return problems.throttled(faults.retry_after_s)
        if dice.roll(faults.get_5xx_fraction):
            status = dice.choice(faults.status_5xx)
            state.counters.faults_injected[f"get_{status}"] += 1
            return problems.server_error(status, faults.html_errors)
    return None


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    state.counters.requests_total += 1
    state.engine.sweep()
    try:
        response = await handler(request)
    except web.HTTPException as e:
        state.counters.responses[e.status] += 1
        raise
    state.counters.responses[response.status] += 1
    return response


@web.middleware
async def api_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v1/"):
        return await handler(request)
    state = request.app[STATE]
    token = bearer_token(request)
    if token is None or token not in state.config.tokens():
        return problems.unauthenticated()
    request[TOKEN] = token
    route = request.match_info.route.name
    is_create = request.method == "POST" and route in CREATE_ROUTES
    faults, config = state.faults, state.config
    if is_create:
        bucket = "create"
        limit = (
            config.low_credit_limit_per_min if faults.low_credit else config.create_limit_per_min
        )
    else:
        bucket, limit = "other", config.other_limit_per_min
    verdict = state.limiter.hit(token, bucket, limit)
    if not verdict.allowed:
        state.counters.rate_limited[bucket] += 1
        return _with_limits(problems.throttled(verdict.reset_s), verdict)
    if (injected := _injected(state, is_create, request.method)) is not None:
        return _with_limits(injected, verdict)
    if is_create and state.fault_dice.roll(faults.create_5xx_fraction):
        status = state.fault_dice.choice(faults.status_5xx)
        state.counters.faults_injected[f"create_{status}"] += 1
        if faults.create_5xx_creates:
            await handler(request)  # made, but the caller never hears about it
        return _with_limits(problems.server_error(status, faults.html_errors), verdict)
    return _with_limits(await handler(request), verdict)
