"""The files a job's outputs are served from: finished videos, posters, captions (WebVTT,
SRT), contact sheets, exports and storyboard frames. Each is looked up on the job the
caller may see, so another client's file is 404 like another client's job."""

from __future__ import annotations

from aiohttp import web

from services.gateway.appkeys import STORAGE
from services.gateway.contract.operations import (
    ERROR,
    FILE_REQUEST_HEADERS,
    Response,
    file_responses,
    operation,
)
from services.gateway.http.errors import NotFound
from services.gateway.http.queries import FrameQuery, VariationQuery, read_query
from services.gateway.jobs.cache import CachedJob
from services.gateway.views.job_access import visible_job
from shared.models import VideoOutput
from shared.storage import LocalStorage

CAPTIONS_NOTE = (
    "The voice-over's words grouped into the caption pages the video shows (never across a "
    "scene change). 404 when the variation is not rendered or its render made no captions."
)


def _output(entry: CachedJob, request: web.Request) -> VideoOutput:
    variation = read_query(request, VariationQuery).variation
    for output in entry.job.outputs:
        if output.kind == "render" and output.variation == variation:
            return output
    raise NotFound(f"job {entry.job.id} has no finished video for variation {variation}")


def _file(
    request: web.Request, key: str, content_type: str, charset: str | None = None
) -> web.FileResponse:
    # FileResponse answers Range requests (206, Accept-Ranges) so players can seek.
    storage: LocalStorage = request.app[STORAGE]
    response = web.FileResponse(storage.path(key), headers={"Cache-Control": "private"})
    response.content_type = content_type
    if charset is not None:
        response.charset = charset
    return response


async def _stored_file(
    request: web.Request, key: str | None, what: str, content_type: str, charset: str | None = None
) -> web.FileResponse:
    """A render's side file (captions, contact sheet), 404 when the renderer made none: an
    older render, or one whose file is gone, is not a server error."""
    storage: LocalStorage = request.app[STORAGE]
    if key is None or not await storage.exists(key):
        raise NotFound(f"no {what} for this variation")
    return _file(request, key, content_type, charset)


def srt_key(vtt_key: str) -> str:
    """The SRT copy sits beside the WebVTT file, same name (`renderer.keys.captions_key`)."""
    return vtt_key.removesuffix(".vtt") + ".srt"


@operation(
    summary="A finished video (MP4, H.264/AAC, faststart)",
    tags=("media",),
    query=VariationQuery,
    headers=FILE_REQUEST_HEADERS,
    responses={**file_responses("video/mp4"), 400: ERROR},
    media_token=True,
)
async def job_video(request: web.Request) -> web.StreamResponse:
    entry = await visible_job(request)
    return _file(request, _output(entry, request).key, "video/mp4")


@operation(
    summary="A finished video's poster frame",
    tags=("media",),
    query=VariationQuery,
    headers=FILE_REQUEST_HEADERS,
    responses={**file_responses("image/jpeg"), 400: ERROR},
    media_token=True,
)
async def job_poster(request: web.Request) -> web.StreamResponse:
    entry = await visible_job(request)
    output = _output(entry, request)
    if output.poster_key is None:
        raise NotFound(f"no poster for variation {output.variation}")
    return _file(request, output.poster_key, "image/jpeg")


@operation(
    summary="A finished video's captions as WebVTT (with per-word timestamps)",
    tags=("media",),
    query=VariationQuery,
    headers=FILE_REQUEST_HEADERS,
    responses={**file_responses("text/vtt"), 400: ERROR},
    media_token=True,
    description=CAPTIONS_NOTE + " Each word after a cue's first carries an inline timestamp "
    "(`<00:00:01.200>word`) for karaoke-style highlighting; a `<track>` loads it as is.",
)
async def job_captions_vtt(request: web.Request) -> web.StreamResponse:
    entry = await visible_job(request)
    output = _output(entry, request)
    return await _stored_file(request, output.captions_key, "captions", "text/vtt", charset="utf-8")


@operation(
    summary="A finished video's captions as SRT",
    tags=("media",),
    query=VariationQuery,
    headers=FILE_REQUEST_HEADERS,
    responses={**file_responses("application/x-subrip"), 400: ERROR},
    media_token=True,
    description=CAPTIONS_NOTE + " Numbered cues, `HH:MM:SS,mmm` timings, plain text.",
)
async def job_captions_srt(request: web.Request) -> web.StreamResponse:
    entry = await visible_job(request)
    output = _output(entry, request)
    key = srt_key(output.captions_key) if output.captions_key else None
    return await _stored_file(request, key, "captions", "application/x-subrip", charset="utf-8")


@operation(
    summary="A finished video's contact sheet: one labelled frame per scene",
    tags=("media",),
    query=VariationQuery,
    headers=FILE_REQUEST_HEADERS,
    responses={**file_responses("image/jpeg"), 400: ERROR},
    media_token=True,
    description="Frames taken from the rendered video, tiled 3 across (4 beyond 9 scenes), "
    "each labelled with its scene and time. 404 when the render made none.",
)
async def job_contact_sheet(request: web.Request) -> web.StreamResponse:
    entry = await visible_job(request)
    output = _output(entry, request)
    return await _stored_file(request, output.contact_sheet_key, "contact sheet", "image/jpeg")


@operation(
    summary="An exported video (its URL is in the job's `outputs`)",
    tags=("media",),
    headers=FILE_REQUEST_HEADERS,
    responses=file_responses("video/mp4"),
    path_params={"name": "The export's file name, as in its `url`."},
    media_token=True,
)
async def job_export_file(request: web.Request) -> web.StreamResponse:
    entry = await visible_job(request)
    name = request.match_info["name"]
    for output in entry.job.outputs:
        if output.kind == "export" and output.key.rsplit("/", 1)[-1] == name:
            return _file(request, output.key, "video/mp4")
    raise NotFound(f"no export {name} for job {entry.job.id}")


@operation(
    summary="A storyboard scene's frame",
    tags=("media",),
    query=FrameQuery,
    responses={
        200: Response("image/jpeg", headers={"Cache-Control": "`private, max-age=3600`."}),
        404: ERROR,
    },
    media_token=True,
)
async def storyboard_frame(request: web.Request) -> web.Response:
    entry = await visible_job(request)
    index = int(request.match_info["n"])
    scenes = entry.job.storyboard.scenes if entry.job.storyboard else []
    scene = next((s for s in scenes if s.index == index), None)
    storage: LocalStorage = request.app[STORAGE]
    if scene is None or not scene.image_key or not await storage.exists(scene.image_key):
        raise NotFound(f"no frame for scene {index} of job {entry.job.id}")
    return web.Response(
        body=await storage.read(scene.image_key),
        content_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=3600"},
    )
