"""`GET /openapi.json` (generated from the router on first request, then kept) and
`GET /docs`, a small viewer served from this package: it loads nothing from elsewhere,
so the docs work on a machine without internet access. Neither needs a token."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiohttp import web

from services.gateway.appkeys import CONTRACT
from services.gateway.contract.document import build_document
from services.gateway.contract.operations import ERROR, Response, operation
from services.gateway.http.errors import NotFound

VIEWER_DIR = Path(__file__).resolve().parent / "docs_viewer"
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*\.(js|css)$")
_CONTENT_TYPES = {"html": "text/html", "js": "text/javascript", "css": "text/css"}
# The viewer talks to this origin only ("try it" calls included).
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class Contract:
    """The serialised document, built once the router is complete (first request)."""

    app: web.Application
    _body: bytes | None = None
    _files: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def document(self) -> bytes:
        if self._body is None:
            self._body = orjson.dumps(build_document(self.app))
        return self._body

    def viewer_file(self, name: str) -> tuple[bytes, str]:
        """The file's bytes and ETag (read once: the viewer ships with the code)."""
        if name not in self._files:
            body = (VIEWER_DIR / name).read_bytes()
            self._files[name] = (
                body,
                '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"',
            )
        return self._files[name]


@operation(
    summary="This API's OpenAPI 3.1 document",
    tags=("docs",),
    responses={200: Response("application/json", "The document (OpenAPI 3.1, JSON).")},
    auth=False,
    description="Generated from the gateway's router and the pydantic models its views "
    "validate and answer with.",
)
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[CONTRACT].document(),
        content_type="application/json",
        headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"},
    )


def _viewer_response(request: web.Request, name: str) -> web.Response:
    body, etag = request.app[CONTRACT].viewer_file(name)
    headers = {"ETag": etag, "Cache-Control": "no-cache", **_SECURITY_HEADERS}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    content_type = _CONTENT_TYPES[name.rsplit(".", 1)[-1]]
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)


@operation(
    summary="The API documentation, rendered (works offline)",
    tags=("docs",),
    responses={200: "text/html", 304: None},
    headers={"If-None-Match": "An ETag of an earlier answer."},
    auth=False,
)
async def docs_index(request: web.Request) -> web.Response:
    return _viewer_response(request, "index.html")


@operation(
    summary="A script or stylesheet of the documentation viewer",
    tags=("docs",),
    responses={200: ("text/javascript", "text/css"), 304: None, 404: ERROR},
    headers={"If-None-Match": "An ETag of an earlier answer."},
    path_params={"name": "`viewer.js` or `viewer.css`."},
    auth=False,
)
async def docs_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not _ASSET_NAME.match(name) or not (VIEWER_DIR / name).is_file():
        raise NotFound(f"no documentation file {name[:100]}")
    return _viewer_response(request, name)
