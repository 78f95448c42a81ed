"""The web console: its static files at `/` and `/console/{name}`, its configuration, the
development login and media tokens (see `access.py` for why `<video>` needs one).

The files are plain ES modules with no build step; they are served with an ETag and
`Cache-Control: no-cache`, so a browser revalidates (a 304 costs nothing) and never runs
a stale module after an upgrade, since the names carry no content hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, Field, StringConstraints

from services.gateway.appkeys import CONSOLE_FILES, MEDIA_VERIFIER, SETTINGS
from services.gateway.contract.operations import ERROR, Response, operation
from services.gateway.http.access import (
    issue_media_token,
    media_secret,
)
from services.gateway.http.auth import Role, TokenVerifier, issue_token
from services.gateway.http.bodies import read_body
from services.gateway.http.errors import NotFound
from services.gateway.http.middlewares import principal_of
from services.gateway.paths import API, DEV_LOGIN
from shared.assets import CLIENT_ID_PATTERN
from shared.logging import get_logger
from shared.models import StrictModel

log = get_logger(__name__)

CONSOLE_DIR = Path(__file__).resolve().parent
DEV_TOKEN_TTL_S = 12 * 3600
_FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*\.(html|js|css|svg)$")
_CONTENT_TYPES = {
    "html": "text/html",
    "js": "text/javascript",
    "css": "text/css",
    "svg": "image/svg+xml",
}
# Everything the console loads comes from this origin; media and frames are same-origin
# URLs (with a media token) or local previews (blob:) of files being uploaded.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; "
        "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


_CACHE_HEADERS = {
    "ETag": "The file's version.",
    "Cache-Control": "no-cache: revalidate every time (a 304 is cheap).",
}


class DevLoginRequest(StrictModel):
    client_id: Annotated[str, StringConstraints(pattern=CLIENT_ID_PATTERN)] = Field(
        default="dev-client", description="The client to sign in as (letters, digits, '-_.')."
    )


class IssuedToken(BaseModel):
    token: str
    token_type: Literal["bearer", "media"]
    client_id: str
    role: Role
    expires_at: datetime
    expires_in_s: int


class ConsoleConfig(BaseModel):
    dev_login: bool = Field(description="Whether POST /api/v2/dev/token issues tokens.")
    api_base: str = API


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    etag: str
    content_type: str
    version: tuple[int, int]  # (mtime_ns, size): re-read when the file changes


class ConsoleFiles:
    """The console's files, read once per change."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, StaticFile] = {}

    async def get(self, name: str) -> StaticFile | None:
        match = _FILE_NAME.match(name)
        if match is None:
            return None
        path = self.root / name
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        version = (stat.st_mtime_ns, stat.st_size)
        cached = self._files.get(name)
        if cached is not None and cached.version == version:
            return cached
        body = await asyncio.to_thread(path.read_bytes)
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        found = StaticFile(body, etag, _CONTENT_TYPES[match.group(1)], version)
        self._files[name] = found
        return found


def set_up_console(app: web.Application) -> None:
    """The console's files and the media-token verifier, on the app before it starts."""
    settings = app[SETTINGS]
    app[CONSOLE_FILES] = ConsoleFiles(CONSOLE_DIR)
    app[MEDIA_VERIFIER] = TokenVerifier(media_secret(settings.jwt_secret.get_secret_value()))
    if settings.dev_login:
        log.warning("gateway.dev_login_enabled", extra={"path": DEV_LOGIN})


async def _serve(request: web.Request, name: str) -> web.Response:
    found = await request.app[CONSOLE_FILES].get(name)
    if found is None:
        raise NotFound(f"no console file {name[:100]}")
    headers = {"ETag": found.etag, "Cache-Control": "no-cache", **_SECURITY_HEADERS}
    if found.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=found.body, content_type=found.content_type, charset="utf-8", headers=headers
    )


@operation(
    summary="The web console (single-page app)",
    tags=("console",),
    responses={200: Response("text/html", headers=_CACHE_HEADERS), 304: None},
    headers={"If-None-Match": "The ETag of a copy the browser holds."},
    auth=False,
)
async def console_index(request: web.Request) -> web.Response:
    return await _serve(request, "index.html")


@operation(
    summary="A static file of the web console (ES module, stylesheet, icon)",
    tags=("console",),
    responses={
        200: Response(
            ("text/javascript", "text/css", "text/html", "image/svg+xml"), headers=_CACHE_HEADERS
        ),
        304: None,
        404: ERROR,
    },
    headers={"If-None-Match": "The ETag of a copy the browser holds."},
    path_params={"name": "A file of the console, e.g. main.js or console.css."},
    auth=False,
    description="Served with an ETag and `Cache-Control: no-cache` (revalidated, 304).",
)
async def console_file(request: web.Request) -> web.Response:
    return await _serve(request, request.match_info["name"])


@operation(
    summary="The web console's configuration (is the development login on?)",
    tags=("console",),
    responses={200: ConsoleConfig},
    auth=False,
)
async def console_config(request: web.Request) -> web.Response:
    config = ConsoleConfig(dev_login=request.app[SETTINGS].dev_login)
    return web.Response(
        body=config.model_dump_json(),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _issued(token: str, token_type: str, client_id: str, role: Role, ttl_s: int) -> web.Response:
    issued = IssuedToken(
        token=token,
        token_type=token_type,  # type: ignore[arg-type]
        client_id=client_id,
        role=role,
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl_s),
        expires_in_s=ttl_s,
    )
    return web.Response(
        body=issued.model_dump_json(),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@operation(
    summary="Development login: a client token for any client id (only with DEV_LOGIN=1)",
    tags=("console",),
    request=DevLoginRequest,
    request_example={"client_id": "dev-client"},
    responses={200: IssuedToken, 404: ERROR},
    auth=False,
    description="Answers 404 unless the gateway runs with `DEV_LOGIN=1` (as `make run` does). "
    "Never enable it where the gateway is reachable by others: anyone could sign in.",
)
async def dev_login(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if not settings.dev_login:
        raise NotFound("development login is disabled on this gateway")
    body = await read_body(request, DevLoginRequest)
    secret = settings.jwt_secret.get_secret_value()
    token = issue_token(secret, body.client_id, "client", DEV_TOKEN_TTL_S)
    log.info("console.dev_login", extra={"client_id": body.client_id})
    return _issued(token, "bearer", body.client_id, "client", DEV_TOKEN_TTL_S)


@operation(
    summary="A short-lived media token for video, frame and download URLs",
    tags=("console",),
    responses={200: IssuedToken},
    description="Put it in a media URL as `?access_token=`: accepted only on GET of "
    "videos, posters, storyboard frames, exports and asset files, for an hour at most "
    "(never past the bearer token's expiry). It is not a bearer token.",
)
async def media_token(request: web.Request) -> web.Response:
    principal = principal_of(request)
    secret = request.app[SETTINGS].jwt_secret.get_secret_value()
    token, ttl_s = issue_media_token(secret, principal)
    return _issued(token, "media", principal.client_id, principal.role, ttl_s)
