"""The gateway's URL map (DESIGN.md, HTTP API)."""

from __future__ import annotations

from aiohttp import web

from services.gateway.views import billing, retry
from services.gateway.views import jobs as views
from services.gateway.views.assets import add_asset_routes

API = "/api/v2"
JOB = API + "/jobs/{job_id}"


def add_routes(app: web.Application) -> None:
    app.router.add_post(f"{API}/jobs", views.create_job)
    app.router.add_get(f"{API}/jobs", views.list_jobs)
    app.router.add_get(JOB, views.get_job)
    app.router.add_get(f"{JOB}/events", views.job_events)
    app.router.add_patch(f"{JOB}/storyboard", views.edit_storyboard)
    app.router.add_post(JOB + r"/scenes/{n:\d+}/refine", views.refine_scene)
    app.router.add_post(f"{JOB}/approve", views.approve_job)
    app.router.add_post(f"{JOB}/cancel", views.cancel_job)
    app.router.add_post(f"{JOB}/render", views.render_job)
    app.router.add_post(f"{JOB}/retry", retry.retry_job)
    app.router.add_post(f"{JOB}/exports", views.export_job)
    app.router.add_get(f"{JOB}/video", views.job_video)
    app.router.add_get(f"{JOB}/poster.jpg", views.job_poster)
    app.router.add_get(f"{JOB}/captions.vtt", views.job_captions_vtt)
    app.router.add_get(f"{JOB}/captions.srt", views.job_captions_srt)
    app.router.add_get(f"{JOB}/contact-sheet.jpg", views.job_contact_sheet)
    app.router.add_get(JOB + r"/exports/{name:[A-Za-z0-9_.\-]+\.mp4}", views.job_export_file)
    app.router.add_get(JOB + r"/storyboard/{n:\d+}.jpg", views.storyboard_frame)
    add_asset_routes(app)
    app.router.add_post(f"{API}/estimate", billing.estimate)
    app.router.add_get(f"{API}/billing/summary", billing.summary)
    app.router.add_get("/healthz", views.healthz)
    app.router.add_get("/readyz", views.readyz)
    app.router.add_get("/metrics", views.metrics)
