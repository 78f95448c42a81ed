"""`GET /api/v2/jobs/{id}/checks`: what the checks found — the storyboard's preflight
(with an override if one was made) and, per output, the QC measured on the file and its
Content Credentials — plus the thumbnails QC findings point at."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from services.gateway.appkeys import STORAGE
from services.gateway.contract.operations import ERROR, Response, operation
from services.gateway.http.bodies import model_response
from services.gateway.http.errors import NotFound
from services.gateway.views.job_access import visible_job
from shared.checks.findings import (
    ChecksStatus,
    ContentCredentials,
    PreflightOverride,
    PreflightReport,
    QcReport,
)
from shared.models import Aspect, Job
from shared.storage import LocalStorage


class OutputChecks(BaseModel):
    kind: str
    variation: int
    aspect: Aspect | None = None
    url: str
    qc: QcReport | None = Field(default=None, description="Null until the file is checked.")
    credentials: ContentCredentials | None = None


class JobChecks(BaseModel):
    """Everything the checks found about one job."""

    job_id: str
    status: ChecksStatus | None = Field(
        description="The worst of the preflight and every output's QC (`checks_status`)."
    )
    preflight: PreflightReport | None = None
    override: PreflightOverride | None = None
    outputs: list[OutputChecks] = Field(default_factory=list)

    @classmethod
    def of(cls, job: Job) -> JobChecks:
        return cls(
            job_id=job.id,
            status=job.checks_status,
            preflight=job.preflight,
            override=job.preflight_override,
            outputs=[
                OutputChecks(
                    kind=output.kind,
                    variation=output.variation,
                    aspect=output.aspect,
                    url=output.url,
                    qc=output.qc,
                    credentials=output.credentials,
                )
                for output in job.outputs
            ],
        )


@operation(
    summary="Preflight findings, QC per output, Content Credentials",
    tags=("jobs",),
    responses={200: JobChecks, 404: ERROR},
    description="Preflight runs when the storyboard is ready and after every edit or "
    "refinement (errors block approval unless overridden); QC is measured on every rendered "
    "file and export. Each finding names its check, severity, scene or time range, and a "
    "thumbnail for QC findings.",
)
async def job_checks(request: web.Request) -> web.Response:
    entry = await visible_job(request)
    return model_response(JobChecks.of(entry.job))


@operation(
    summary="The frame a QC finding shows",
    tags=("jobs",),
    responses={200: Response("image/jpeg"), 404: ERROR},
    media_token=True,
)
async def check_thumbnail(request: web.Request) -> web.Response:
    entry = await visible_job(request)
    name = request.match_info["name"]
    # Only a thumbnail a finding of this job names is served.
    key = next(
        (
            finding.thumbnail_key
            for output in entry.job.outputs
            for finding in (output.qc.findings if output.qc is not None else [])
            if finding.thumbnail_key and finding.thumbnail_key.rsplit("/", 1)[-1] == name
        ),
        None,
    )
    storage: LocalStorage = request.app[STORAGE]
    if key is None or not await storage.exists(key):
        raise NotFound(f"no check thumbnail {name} for job {entry.job_id}")
    return web.Response(
        body=await storage.read(key),
        content_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=3600"},
    )
