"""The gateway's URL map: every route, in one place. Each handler carries its
`@operation(...)` metadata (contract/operations.py), from which the OpenAPI document,
idempotency and admission are derived, so a route is declared here and nowhere else."""

from __future__ import annotations

from aiohttp import web

from services.gateway.appkeys import SETTINGS
from services.gateway.console import views as console
from services.gateway.contract import views as contract
from services.gateway.metrics_port import metrics_apart
from services.gateway.paths import API, ASSET, ASSETS, DEV_LOGIN, JOB, JOBS, MEDIA_TOKEN
from services.gateway.views import assets, billing, checks, health, jobs, media, retry, webhooks
from services.gateway.webhooks import replicate


def add_routes(app: web.Application) -> None:
    router = app.router
    # Jobs: the brief, the storyboard review, the render and its files.
    router.add_post(JOBS, jobs.create_job)
    router.add_get(JOBS, jobs.list_jobs)
    router.add_get(JOB, jobs.get_job)
    router.add_get(f"{JOB}/events", jobs.job_events)
    router.add_patch(f"{JOB}/storyboard", jobs.edit_storyboard)
    router.add_post(JOB + r"/scenes/{n:\d+}/refine", jobs.refine_scene)
    router.add_post(f"{JOB}/approve", jobs.approve_job)
    router.add_post(f"{JOB}/cancel", jobs.cancel_job)
    router.add_post(f"{JOB}/render", jobs.render_job)
    router.add_post(f"{JOB}/retry", retry.retry_job)
    router.add_post(f"{JOB}/exports", jobs.export_job)
    router.add_get(f"{JOB}/video", media.job_video)
    router.add_get(f"{JOB}/poster.jpg", media.job_poster)
    router.add_get(f"{JOB}/captions.vtt", media.job_captions_vtt)
    router.add_get(f"{JOB}/captions.srt", media.job_captions_srt)
    router.add_get(f"{JOB}/contact-sheet.jpg", media.job_contact_sheet)
    router.add_get(JOB + r"/exports/{name:[A-Za-z0-9_.\-]+\.mp4}", media.job_export_file)
    router.add_get(JOB + r"/storyboard/{n:\d+}.jpg", media.storyboard_frame)
    router.add_get(f"{JOB}/checks", checks.job_checks)
    router.add_get(JOB + r"/checks/{name:[A-Za-z0-9_\-]+\.jpg}", checks.check_thumbnail)
    # Uploaded assets (products, logos, music, fonts, clips).
    router.add_post(f"{API}/upload-asset", assets.upload_asset)
    router.add_post(ASSETS, assets.upload_asset)
    router.add_get(ASSETS, assets.list_assets)
    router.add_get(ASSET, assets.get_asset)
    router.add_get(f"{ASSET}/content", assets.asset_content)
    router.add_get(f"{ASSET}/thumbnail.jpg", assets.asset_thumbnail)
    router.add_delete(ASSET, assets.delete_asset)
    # Money.
    router.add_post(f"{API}/estimate", billing.estimate)
    router.add_get(f"{API}/billing/summary", billing.summary)
    router.add_get(f"{API}/billing/budget", billing.get_budget)
    router.add_put(f"{API}/billing/budget", billing.set_budget)
    # Probes and metrics.
    router.add_get("/healthz", health.healthz)
    router.add_get("/readyz", health.readyz)
    if not metrics_apart(app.get(SETTINGS)):  # else on METRICS_PORT (metrics_port.py)
        router.add_get("/metrics", health.metrics)
    # Webhooks: Replicate's to us, ours to clients.
    router.add_post(replicate.PATH, replicate.receive_replicate_webhook)
    router.add_get(f"{API}/webhooks/secret", webhooks.get_secret)
    router.add_post(f"{API}/webhooks/secret/rotate", webhooks.rotate)
    router.add_get(f"{JOB}/webhooks", webhooks.job_deliveries)
    # The contract and its viewer.
    router.add_get("/openapi.json", contract.openapi_json)
    router.add_get("/docs", contract.docs_index)
    router.add_get("/docs/{name}", contract.docs_asset)
    # The web console, its dev login and media tokens.
    router.add_get("/", console.console_index)
    router.add_get("/console/config.json", console.console_config)
    router.add_get("/console/{name}", console.console_file)
    router.add_post(DEV_LOGIN, console.dev_login)
    router.add_post(MEDIA_TOKEN, console.media_token)
