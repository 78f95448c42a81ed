"""Every URL the API hands out (a job's Location, frames, videos, posters, export files,
an asset's Location) is built by `services/gateway/paths.py`; each one resolves on the
real router to the view that serves it, so a moved route cannot leave answers pointing
at nothing."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from services.gateway import paths
from services.gateway.views import assets, jobs, media
from shared.models import Scene, VideoOutput


async def _handler_of(app: web.Application, method: str, url: str) -> object:
    match = await app.router.resolve(make_mocked_request(method, urlsplit(url).path, app=app))
    assert match.http_exception is None, (method, url)
    return match.handler


async def test_every_url_the_api_builds_reaches_its_view(app: web.Application) -> None:
    job_id = "a" * 32
    scene = Scene(
        index=2,
        duration_s=3,
        script="Say it.",
        caption="Say it",
        visual_prompt="a bottle",
        image_key=f"storyboards/{job_id}/scene_2.jpg",
    )
    file = {"url": "", "duration_s": 15.0, "width": 1080, "height": 1920, "size_bytes": 1}
    render = VideoOutput(
        variation=2, key=f"videos/{job_id}/v2/final.mp4", poster_key="p.jpg", **file
    )
    export = VideoOutput(
        variation=1, kind="export", key=f"videos/{job_id}/exports/1x1_v1_abc123.mp4", **file
    )
    built = {
        ("GET", paths.job_url(job_id)): jobs.get_job,
        ("GET", paths.frame_url(job_id, scene)): media.storyboard_frame,
        ("GET", paths.video_url(job_id, render)): media.job_video,
        ("GET", paths.poster_url(job_id, render)): media.job_poster,
        ("GET", paths.video_url(job_id, export)): media.job_export_file,
        ("GET", paths.asset_url("b" * 32)): assets.get_asset,
    }
    for (method, url), view in built.items():
        assert await _handler_of(app, method, url) is view, url


def test_frame_urls_change_when_the_frame_does() -> None:
    scene = Scene(
        index=1, duration_s=3, script="s", caption="c", visual_prompt="v", image_key="k/a.jpg"
    )
    refined = scene.model_copy(update={"revision": scene.revision + 1})
    assert paths.frame_url("j", scene) != paths.frame_url("j", refined)
