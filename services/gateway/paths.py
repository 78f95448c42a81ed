"""Where things are on the HTTP API: the path templates the route map registers
(`routes.py`) and the URLs the API hands out in its answers (a job's `Location`, its
frames, videos and posters, an asset's `Location`). Both come from here, so an answer can
never point at a route that moved; `tests/contracts/test_paths.py` resolves each built URL
on the real router."""

from __future__ import annotations

from shared.models import Scene, VideoOutput

API = "/api/v2"
JOBS = API + "/jobs"
JOB = JOBS + "/{job_id}"
ASSETS = API + "/assets"
ASSET = ASSETS + "/{asset_id}"
DEV_LOGIN = API + "/dev/token"
MEDIA_TOKEN = API + "/media-token"


def job_url(job_id: str) -> str:
    return f"{JOBS}/{job_id}"


def asset_url(asset_id: str) -> str:
    return f"{ASSETS}/{asset_id}"


def frame_url(job_id: str, scene: Scene) -> str:
    # The version names the frame itself (its key and revision), so a cached image is
    # never shown for a scene that was reordered or refined.
    key = (scene.image_key or "").rsplit("/", 1)[-1].removesuffix(".jpg")
    return f"{job_url(job_id)}/storyboard/{scene.index}.jpg?v={key}.{scene.revision}"


def video_url(job_id: str, output: VideoOutput) -> str:
    if output.kind == "export":
        return f"{job_url(job_id)}/exports/{output.key.rsplit('/', 1)[-1]}"
    return f"{job_url(job_id)}/video?variation={output.variation}"


def poster_url(job_id: str, output: VideoOutput) -> str:
    return f"{job_url(job_id)}/poster.jpg?variation={output.variation}"


def check_thumbnail_url(job_id: str, thumbnail_key: str) -> str:
    """A QC finding's thumbnail (stored by the renderer under the job's `qc/`)."""
    return f"{job_url(job_id)}/checks/{thumbnail_key.rsplit('/', 1)[-1]}"
