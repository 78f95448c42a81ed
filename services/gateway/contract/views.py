"""`GET /openapi.json` (generated from the router on first request, then kept) and
`GET /docs`, Swagger UI served from this gateway with every file it loads
(`docs_files.py`), so the docs work on a machine without internet access. Neither needs a
token."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson
from aiohttp import web
from pydantic import BaseModel, Field

from services.gateway.appkeys import CONTRACT
from services.gateway.contract.docs_files import ASSETS, PAGE, DocsFile, load_docs_files
from services.gateway.contract.document import build_document
from services.gateway.contract.operations import ERROR, Response, operation
from services.gateway.http.errors import NotFound
from services.gateway.http.queries import read_query

# Swagger UI talks to this origin only ("try it out" included). It sets inline styles from
# script (allowed under style-src 'self') and draws its icons as data: SVGs.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
REVALIDATE = "no-cache"
FOREVER = "public, max-age=31536000, immutable"
_FILE_HEADERS = {
    "ETag": "The file's version.",
    "Cache-Control": f"`{FOREVER}` when `v` is the file's current version, else `no-cache`.",
    "Content-Encoding": "`gzip` for scripts and stylesheets when the request accepts it.",
}


@dataclass
class Contract:
    """The serialised document, built once the router is complete (first request), and
    the files of `/docs`, read once."""

    app: web.Application
    _body: bytes | None = None
    _files: dict[str, DocsFile] | None = None

    def document(self) -> bytes:
        if self._body is None:
            self._body = orjson.dumps(build_document(self.app))
        return self._body

    async def docs_files(self) -> dict[str, DocsFile]:
        if self._files is None:
            self._files = await asyncio.to_thread(load_docs_files)
        return self._files


class DocsFileQuery(BaseModel):
    v: str | None = Field(
        default=None,
        description="The file's version, as `/docs` names it: the answer may then be cached "
        "for a year. Any other value serves the current file, to be revalidated.",
    )


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


def _file_response(request: web.Request, found: DocsFile, cache_control: str) -> web.Response:
    gzipped = found.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", "")
    etag = found.gzip_etag if gzipped else found.etag
    headers = {"ETag": etag, "Cache-Control": cache_control, **_SECURITY_HEADERS}
    if found.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    charset = "utf-8" if found.content_type.startswith("text/") else None
    return web.Response(
        body=found.gzipped if gzipped else found.body,
        content_type=found.content_type,
        charset=charset,
        headers=headers,
    )


@operation(
    summary="The API documentation: Swagger UI, served by the gateway (works offline)",
    tags=("docs",),
    responses={200: Response("text/html", headers=_FILE_HEADERS), 304: None},
    headers={"If-None-Match": "An ETag of an earlier answer."},
    auth=False,
    description="Authorize with a bearer token to try the operations that need one.",
)
async def docs_index(request: web.Request) -> web.Response:
    files = await request.app[CONTRACT].docs_files()
    return _file_response(request, files[PAGE], REVALIDATE)


@operation(
    summary="A file of the documentation page (Swagger UI's script, stylesheet or icon)",
    tags=("docs",),
    query=DocsFileQuery,
    responses={
        200: Response(("text/javascript", "text/css", "image/png"), headers=_FILE_HEADERS),
        304: None,
        404: ERROR,
    },
    headers={"If-None-Match": "An ETag of an earlier answer."},
    path_params={"name": "A file `/docs` loads, e.g. `swagger-ui-bundle.js`."},
    auth=False,
)
async def docs_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise NotFound(f"no documentation file {name[:100]}")
    found = (await request.app[CONTRACT].docs_files())[name]
    version = read_query(request, DocsFileQuery).v
    return _file_response(request, found, FOREVER if version == found.version else REVALIDATE)
